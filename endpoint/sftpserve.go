package endpoint

import (
	"bufio"
	"io"
	"sync"

	"github.com/pkg/sftp"
)

// An SFTP server answers every write request of an upload with a short status reply: sent one
// by one, each is an SSH packet of its own (and, from a separate sftp-server program, a pipe
// write and read of its own) for each 32 KiB of data. SFTPServerPipe reads requests through a
// buffer and, while requests already read wait in that buffer, holds short replies back and
// sends them together: before the server's next read would wait for the Guest, or once
// sftpHeldMax bytes are held. A long reply (file data) is never held.
const (
	// sftpReadBuffer is the request buffer: several whole write requests.
	sftpReadBuffer = 256 << 10
	// sftpShortReply is the longest reply that may be held (a status or a handle, not data).
	sftpShortReply = 512
	// sftpHeldMax sends the held replies once they reach this many bytes.
	sftpHeldMax = 16 << 10
)

// NewSFTPServer returns pkg/sftp's server on r and w (an out) through SFTPServerPipe,
// answering a read request with up to readMax bytes of file data (at most SFTPLargePacket; 0,
// or anything up to 32 KiB, means pkg/sftp's 32 KiB). Its packets live in pages it reuses
// (sftp.WithAllocator): a 256 KiB buffer allocated per request would cost a garbage
// collection every few MB. opts add the caller's options.
func NewSFTPServer(r io.Reader, w io.WriteCloser, out SFTPOutput, readMax int, opts ...sftp.ServerOption) (*sftp.Server, error) {
	in, wout := SFTPServerPipe(r, w, out)
	opts = append(opts, sftp.WithAllocator())
	if readMax > sftpDefaultRead {
		opts = append(opts, sftp.WithMaxTxPacket(uint32(min(readMax, SFTPLargePacket))))
	}
	return sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{in, wout}, opts...)
}

// sftpDefaultRead is the most pkg/sftp's server reads per request unless told otherwise.
const sftpDefaultRead = 1 << 15

// SFTPServerPipe returns the reader and writer an SFTP server (github.com/pkg/sftp) should run
// on in place of r and w (an out): requests read through a buffer, each reply written whole
// (WholeSFTPPackets) and short replies sent together while more requests are already at
// hand. Closing the writer sends what is held and closes w.
func SFTPServerPipe(r io.Reader, w io.WriteCloser, out SFTPOutput) (io.Reader, io.WriteCloser) {
	p := &serverPipe{in: bufio.NewReaderSize(r, sftpReadBuffer), w: w}
	return serverReader{p}, WholeSFTPPackets(serverWriter{p}, out)
}

// serverPipe is the shared state of an SFTP server's reader and writer.
type serverPipe struct {
	in *bufio.Reader // used by the server's one reading goroutine only

	mu   sync.Mutex
	w    io.WriteCloser
	busy bool   // requests wait in the buffer: short replies may be held
	held []byte // replies not sent yet
	err  error  // a failed send of held replies, reported by the next write
}

// flushLocked sends the held replies; p.mu is held.
func (p *serverPipe) flushLocked() {
	if len(p.held) == 0 {
		return
	}
	if _, err := p.w.Write(p.held); err != nil && p.err == nil {
		p.err = err
	}
	p.held = p.held[:0]
}

// serverReader reads requests, sending the held replies before a read that would wait.
type serverReader struct{ p *serverPipe }

func (r serverReader) Read(b []byte) (int, error) {
	p := r.p
	if p.in.Buffered() == 0 {
		p.mu.Lock()
		p.busy = false
		p.flushLocked()
		p.mu.Unlock()
	}
	n, err := p.in.Read(b)
	p.mu.Lock()
	if p.busy = p.in.Buffered() > 0; !p.busy {
		p.flushLocked()
	}
	p.mu.Unlock()
	return n, err
}

// serverWriter holds short replies while the server is busy and sends the others at once.
type serverWriter struct{ p *serverPipe }

func (w serverWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	if p.busy && len(b) <= sftpShortReply {
		p.held = append(p.held, b...)
		if len(p.held) >= sftpHeldMax {
			p.flushLocked()
		}
		return len(b), p.err
	}
	p.flushLocked()
	if p.err != nil {
		return 0, p.err
	}
	return p.w.Write(b)
}

// Close sends the held replies and closes the underlying writer.
func (w serverWriter) Close() error {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushLocked()
	if err := p.w.Close(); err != nil {
		return err
	}
	return p.err
}
