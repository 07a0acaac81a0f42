//go:build aix || linux || solaris || zos

package ttyprompt

import "golang.org/x/sys/unix"

// Linux's (and System V's) requests that read and set a terminal's attributes.
const (
	getTermios = unix.TCGETS
	setTermios = unix.TCSETS
)
