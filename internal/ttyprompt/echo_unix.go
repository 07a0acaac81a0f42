//go:build unix

package ttyprompt

import (
	"os"

	"golang.org/x/sys/unix"
)

// hideEcho turns the terminal f to line mode without echo and returns what restores its
// previous mode. It reaches the descriptor through SyscallConn, not Fd, which would switch
// f to blocking reads that no deadline can wake.
func hideEcho(f *os.File) (restore func() error, err error) {
	var was *unix.Termios
	if err := onDescriptor(f, func(fd int) (err error) {
		if was, err = unix.IoctlGetTermios(fd, getTermios); err != nil {
			return err
		}
		hidden := *was
		hidden.Lflag &^= unix.ECHO
		hidden.Lflag |= unix.ICANON | unix.ISIG
		hidden.Iflag |= unix.ICRNL
		return unix.IoctlSetTermios(fd, setTermios, &hidden)
	}); err != nil {
		return nil, err
	}
	return func() error {
		return onDescriptor(f, func(fd int) error { return unix.IoctlSetTermios(fd, setTermios, was) })
	}, nil
}

// onDescriptor runs fn on f's descriptor without taking f out of Go's poller.
func onDescriptor(f *os.File, fn func(fd int) error) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := raw.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}
