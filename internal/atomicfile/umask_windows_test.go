//go:build windows

package atomicfile

import "testing"

// strictUmask does nothing: Windows has no umask.
func strictUmask(*testing.T) {}
