//go:build !unix

package ticket

// syncDir does nothing where a directory cannot be synced (Windows): NTFS journals the names
// it creates.
func syncDir(string) error { return nil }
