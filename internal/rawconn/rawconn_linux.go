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
	n, err := readOnce(c, "read", sysRead{p})
	switch {
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	readDone(p, int(n))
	return int(n), nil
}

// Write writes all of p with raw write(2)s, waiting in the poller while the socket has no room.
func (c *Conn) Write(p []byte) (int, error) {
	writeStarting(p)
	n, err := writeAll(c, "write", int64(len(p)), sysWrite{p})
	return int(n), err
}

// rawRead is a raw system call that reads from a socket: read(2), or splice(2) into a pipe.
type rawRead interface {
	// do makes the call on the socket fd.
	do(fd uintptr) (uintptr, unix.Errno)
}

// rawWrite is a raw system call that writes to a socket: write(2), or splice(2) from a pipe.
type rawWrite interface {
	// do makes the call on the socket fd for what is left after the first done bytes.
	do(fd uintptr, done int64) (uintptr, unix.Errno)
}

// sysRead reads into p; sysWrite writes p.
type (
	sysRead  struct{ p []byte }
	sysWrite struct{ p []byte }
)

func (s sysRead) do(fd uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&s.p[0])), uintptr(len(s.p)))
	return r, e
}

func (s sysWrite) do(fd uintptr, done int64) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.p[done])), uintptr(int64(len(s.p))-done))
	return r, e
}

// spliceToPipe splices up to max bytes (at most the pipe's size) from the socket into the pipe
// whose write end is pipe; spliceFromPipe splices n bytes from the pipe whose read end is pipe
// to the socket.
type (
	spliceToPipe   struct{ pipe, max int64 }
	spliceFromPipe struct{ pipe, n int64 }
)

func (s spliceToPipe) do(fd uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, fd, 0, uintptr(s.pipe), 0, uintptr(min(s.max, pipeSize)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return r, e
}

func (s spliceFromPipe) do(fd uintptr, done int64) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(s.pipe), 0, fd, 0, uintptr(s.n-done), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return r, e
}

// readOnce makes the raw call once it neither is interrupted nor would block (EAGAIN: it waits
// in the poller until the socket is readable) and returns what the call returned; op names the
// call in errors. (A type parameter, not a function value: the call is not allocated.)
func readOnce[R rawRead](c *Conn, op string, call R) (int64, error) {
	var n int64
	var errno unix.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, e := call.do(fd)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			n, errno = int64(r), e
			return true
		}
	})
	return n, c.callError(op, err, errno)
}

// writeAll repeats the raw call, given what it has moved so far, until it has moved n bytes,
// waiting in the poller while the socket has no room (EAGAIN); it returns what it moved and
// the error that stopped it. op names the call in errors.
func writeAll[W rawWrite](c *Conn, op string, n int64, call W) (int64, error) {
	var done int64
	var errno unix.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for done < n {
			r, e := call.do(fd, done)
			switch {
			case e == unix.EINTR:
			case e == unix.EAGAIN:
				return false
			case e != 0:
				errno = e
				return true
			case r == 0:
				errno = unix.EIO // a socket takes a byte or says why not, and the source held n
				return true
			default:
				done += int64(r)
			}
		}
		return true
	})
	return done, c.callError(op, err, errno)
}

// callError is the error of a raw call named op: the poller's (a deadline, a closed
// connection) or the call's own, nil for neither.
func (c *Conn) callError(op string, err error, errno unix.Errno) error {
	switch {
	case err != nil:
		return c.opError(op, unwrapOp(err))
	case errno != 0:
		return c.opError(op, errno)
	}
	return nil
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

// spliceIn moves what c has ready, up to max bytes and the pipe's size, into the empty pipe
// whose write end is pipe, waiting until c has something (with the pipe empty, EAGAIN means the
// socket is); 0 is the end of c's stream.
func (c *Conn) spliceIn(pipe int, max int64) (int64, error) {
	return readOnce(c, "splice", spliceToPipe{int64(pipe), max})
}

// spliceOut moves n bytes from the pipe whose read end is pipe into c, waiting while c has no
// room (with bytes in the pipe, EAGAIN means the socket is full); it returns what it moved.
func (c *Conn) spliceOut(pipe int, n int64) (int64, error) {
	return writeAll(c, "splice", n, spliceFromPipe{int64(pipe), n})
}
