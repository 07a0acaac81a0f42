//go:build !windows

package main

// sshConfigPath is path as written into an ssh_config file: unchanged on Unix.
func sshConfigPath(path string) string { return path }
