package endpoint

import (
	"cmp"
	"net"
	"sync"
	"time"

	"github.com/portcullis/portcullis/relay"
)

// Write coalescing of the relayed connection. x/crypto/ssh writes each packet through a
// 4 KiB bufio.Writer: a longer packet reaches the connection as a write of exactly 4 KiB (its
// length prefix and first bytes), then a write of the rest. Over TLS each write is at least one
// record and one system call, so a 32 KiB channel packet cost three records (4 KiB, 16 KiB and
// the rest) at the sender, the relay and the receiver. The relayed connection holds a write
// of exactly sshBufferSize back and sends it with the next write, so that the packet leaves
// whole: two full records when it fits in two (ChannelChunk).
const (
	// sshBufferSize is the size of x/crypto/ssh's write buffer (bufio's default).
	sshBufferSize = 4096
	// heldWriteDelay bounds how long a held write waits for the rest of its packet: only a
	// packet of exactly sshBufferSize bytes waits that long, which the AEAD and
	// encrypt-then-MAC ciphers of the very_high and high levels never send (their packets
	// are 4 more than a multiple of 16 bytes long).
	heldWriteDelay = time.Millisecond
)

// coalescer holds back a write of sshBufferSize bytes until the next write (or
// heldWriteDelay) and sends both as one.
type coalescer struct {
	cork *relay.GatherConn // the TCP connection under w, nil when it cannot gather
	// delay is how long a held write waits for the rest of its packet; 0 means
	// heldWriteDelay.
	delay time.Duration
	mu    sync.Mutex
	buf   []byte // the held write, then the whole packet
	timer *time.Timer
	err   error // a failed delayed send, reported by the next write
}

// write sends p through w, holding a write of exactly sshBufferSize bytes back.
func (c *coalescer) write(w net.Conn, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if len(c.buf) == 0 {
		if len(p) != sshBufferSize {
			return corked(c.cork, w, p)
		}
		c.buf = append(c.buf, p...)
		delay := cmp.Or(c.delay, heldWriteDelay)
		if c.timer == nil {
			c.timer = time.AfterFunc(delay, func() { c.flushHeld(w) })
		} else {
			c.timer.Reset(delay)
		}
		return len(p), nil
	}
	c.timer.Stop()
	held := len(c.buf)
	c.buf = append(c.buf, p...)
	n, err := corked(c.cork, w, c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		c.err = err
		return max(n-held, 0), err
	}
	return len(p), nil
}

// flush sends a held write now (before a close).
func (c *coalescer) flush(w net.Conn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.sendHeldLocked(w)
}

// flushHeld sends a write that waited heldWriteDelay for the rest of its packet.
func (c *coalescer) flushHeld(w net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.sendHeldLocked(w)
}

func (c *coalescer) sendHeldLocked(w net.Conn) error {
	if c.err != nil || len(c.buf) == 0 {
		return c.err
	}
	_, err := w.Write(c.buf)
	c.buf = c.buf[:0]
	c.err = err
	return err
}

// corked writes p through w (a TLS connection) with its TCP connection c gathering the
// records of the write when p takes more than one record; c may be nil.
func corked(c *relay.GatherConn, w net.Conn, p []byte) (int, error) {
	if c == nil || len(p) <= relay.MaxRecordPlaintext {
		return w.Write(p)
	}
	return relay.WriteGathered(w, c, p)
}
