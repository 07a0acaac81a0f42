//go:build unix

package atomicfile

import (
	"syscall"
	"testing"
)

// strictUmask sets a umask that would hide group and other bits, for the test's duration.
func strictUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
}
