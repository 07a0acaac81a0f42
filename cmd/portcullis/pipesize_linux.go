package main

import "golang.org/x/sys/unix"

// growPipe asks for a pipe of size bytes at fd; a file that is no pipe, or a size over the
// system's limit for the user (pipe-max-size, pipe-user-pages-soft), keeps what it has.
func growPipe(fd, size int) {
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, size)
}
