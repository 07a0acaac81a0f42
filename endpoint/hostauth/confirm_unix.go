//go:build !windows

package hostauth

// confirmPlatform accepts: a unix socket's mode limits who may connect.
func confirmPlatform() error { return nil }
