//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package ttyprompt

import "golang.org/x/sys/unix"

// The BSDs' (and macOS's) requests that read and set a terminal's attributes.
const (
	getTermios = unix.TIOCGETA
	setTermios = unix.TIOCSETA
)
