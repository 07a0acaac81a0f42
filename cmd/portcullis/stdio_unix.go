//go:build unix

package main

import (
	"os"
	"syscall"
)

// sftpPipeSize is how much each of sftp-server's pipes holds where the system lets a process
// choose (Linux): four of its largest packets, so that a packet crosses the pipe in one write and
// one read rather than waking the agent and the server for each 64 KiB of the default size.
const sftpPipeSize = 1 << 20

// pollableStdio returns standard input and output as pollable files (see pollable); each is
// os.Stdin or os.Stdout as it is when it cannot be made non-blocking.
func pollableStdio() (*os.File, *os.File) {
	in := pollable(0, "/dev/stdin")
	if in == nil {
		return os.Stdin, os.Stdout
	}
	out := pollable(1, "/dev/stdout")
	if out == nil {
		// os.Stdin reads as a blocking file: its descriptor must block again.
		_ = syscall.SetNonblock(0, false)
		return os.Stdin, os.Stdout
	}
	return in, out
}

// pollable makes fd non-blocking, so that Go's poller waits for it instead of a thread blocked in
// read or write (which the runtime's monitor keeps handing a new thread), grows it to
// sftpPipeSize when it is a pipe on Linux, and returns it as a file; nil when fd cannot be made
// non-blocking.
func pollable(fd int, name string) *os.File {
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil
	}
	growPipe(fd, sftpPipeSize)
	return os.NewFile(uintptr(fd), name)
}
