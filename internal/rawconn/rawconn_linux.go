package rawconn

import (
	"errors"
	"io"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// supported: Linux has raw system calls.
const supported = true

// Read reads into p with one raw read(2), waiting in the poller while the socket has nothing
// to read; it returns io.EOF when the peer has finished sending.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno unix.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait in the poller until the socket is readable
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("read", unwrapOp(err))
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	readDone(p, n)
	return n, nil
}

// Write writes all of p with raw write(2)s, waiting in the poller while the socket has no room.
func (c *Conn) Write(p []byte) (int, error) {
	writeStarting(p)
	var n int
	var errno unix.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				if r == 0 {
					errno = unix.EIO // a socket always takes a byte or says why not
					return true
				}
				n += int(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // wait in the poller until the socket has room
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, c.opError("write", unwrapOp(err))
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// unwrapOp is the error inside the *net.OpError that a syscall.RawConn returns (its operation
// is "raw-read" or "raw-write"), so that the error Read and Write return names theirs.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// pipeSize is the capacity SpliceFrom asks for its pipe (Linux's default is 64 KiB): what one
// splice(2) can move.
const pipeSize = 1 << 20

// SpliceFrom moves up to max bytes from src to c with raw splice(2) calls through a pipe of
// its own, never through user memory (unless no pipe can be made: then through a buffer),
// waiting in the poller (and obeying each connection's deadlines) as Read and Write do. It
// returns the bytes moved, fewer than max only when src finished sending (a nil error) or on
// an error, which for a deadline wraps os.ErrDeadlineExceeded.
func (c *Conn) SpliceFrom(src *Conn, max int64) (int64, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return c.copyFrom(src, max) // no descriptors left for a pipe: the stream still moves
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize) // the default size still works
	var moved int64
	for moved < max {
		in, err := src.spliceIn(fds[1], max-moved)
		readDone(nil, 0)
		if in > 0 {
			writeStarting(nil)
			out, werr := c.spliceOut(fds[0], in)
			moved += out
			if werr != nil {
				return moved, werr
			}
		}
		if err != nil || in == 0 {
			return moved, err // an error, or the end of src's stream
		}
	}
	return moved, nil
}

// copyFrom is SpliceFrom through memory, with Read and Write.
func (c *Conn) copyFrom(src *Conn, max int64) (int64, error) {
	return io.Copy(writerOnly{c}, &io.LimitedReader{R: readerOnly{src}, N: max})
}

// spliceIn moves what c has ready, up to max bytes and the pipe's size, into the empty pipe
// whose write end is pipe, waiting until c has something; 0 is the end of c's stream.
func (c *Conn) spliceIn(pipe int, max int64) (int64, error) {
	var n int64
	var errno unix.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, fd, 0, uintptr(pipe), 0, uintptr(min(max, pipeSize)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // the pipe is empty, so the socket is: wait until it is readable
			}
			n, errno = int64(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("splice", unwrapOp(err))
	case errno != 0:
		return 0, c.opError("splice", errno)
	}
	return n, nil
}

// spliceOut moves n bytes from the pipe whose read end is pipe into c, waiting while c has no
// room; it returns what it moved.
func (c *Conn) spliceOut(pipe int, n int64) (int64, error) {
	var moved int64
	var errno unix.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for moved < n {
			r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(pipe), 0, fd, 0, uintptr(n-moved), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch e {
			case 0:
				if r == 0 {
					errno = unix.EIO // the pipe held n bytes: a move of none would never end
					return true
				}
				moved += int64(r)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // the pipe holds bytes, so the socket is full: wait for room
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return moved, c.opError("splice", unwrapOp(err))
	case errno != 0:
		return moved, c.opError("splice", errno)
	}
	return moved, nil
}
