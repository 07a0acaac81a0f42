//go:build !windows

package privatedir

import "os"

// dirMode lets the owner alone list, read and write the directory.
const dirMode = 0o700

// makePrivate creates path with mode 0700 and sets that mode on an existing one.
func makePrivate(path string) error {
	if err := os.MkdirAll(path, dirMode); err != nil {
		return err
	}
	return os.Chmod(path, dirMode)
}
