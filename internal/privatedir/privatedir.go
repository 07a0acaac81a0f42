// Package privatedir makes directories that only the current user can read or write, for
// secrets such as the Guest's cached tokens and credential key: mode 0700 on Unix; on Windows,
// where file modes mean nothing, an access list (DACL) granting the current user alone full
// access, inherited by every file created inside and not inheriting the parent's entries.
package privatedir

import "fmt"

// Make creates path and its missing parents, and makes path itself private to the current
// user, also when it already existed (an existing directory is narrowed, never widened).
func Make(path string) error {
	if err := makePrivate(path); err != nil {
		return fmt.Errorf("private directory %s: %w", path, err)
	}
	return nil
}
