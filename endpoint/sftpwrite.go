package endpoint

import (
	"encoding/binary"
	"io"
	"sync"
)

// SFTPPacketMax is the most file data one SFTP read or write request carries to a Host that
// does not announce a larger read size (SFTPPacketRequest), and the payload of each SSH packet
// that WholeSFTPPackets writes: with its packet header (13 bytes for a data reply, under 64 for
// a write request) it fits one SSH channel packet (32 KiB), so that a request is one SSH
// packet, not a full one and a scrap.
const SFTPPacketMax = 1<<15 - 64

// maxHeldHeader is the longest write WholeSFTPPackets may hold: pkg/sftp writes a packet's
// header and its payload separately, and headers are short.
const maxHeldHeader = 64

// SFTPOutput is what an SFTP end writes its packets to.
type SFTPOutput int

const (
	// ToPipe is a program's output, which the Host copies on in ChannelChunk reads: each packet
	// goes in one write.
	ToPipe SFTPOutput = iota
	// ToChannel is an SSH channel: each write is one SSH packet, so a packet longer than one
	// (SFTPLargePacket) goes in pieces that fit one each.
	ToChannel
)

// WholeSFTPPackets returns w writing SFTP packets whole: a short write that opens a packet
// longer than itself (pkg/sftp sends the header, then the payload) is held and sent with its
// payload. To a channel (out ToChannel) the header goes with the first SFTPPacketMax bytes of
// the payload and the rest of a longer packet (SFTPLargePacket) follows in writes of
// ChannelChunk bytes: each write is one SSH packet that fits two TLS records. Writes must start
// on packet boundaries, as pkg/sftp's are; Close sends what is held, then closes w.
func WholeSFTPPackets(w io.WriteCloser, out SFTPOutput) io.WriteCloser {
	return &packetWriter{w: w, pieces: out == ToChannel}
}

// packetWriter joins a held SFTP packet header to its payload.
type packetWriter struct {
	w       io.WriteCloser
	pieces  bool // writes of at most one SSH packet each (ToChannel)
	mu      sync.Mutex
	held    []byte // the start of a packet; empty when nothing is held
	pending int    // bytes of the current packet still to come; 0 at a packet boundary
	first   int    // the length of the held packet's first write: whole, or its header and SFTPPacketMax
}

// Write holds or sends p; it reports len(p) written unless the underlying write fails.
func (pw *packetWriter) Write(p []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.pending == 0 { // p opens a packet
		rest := packetRest(p)
		if rest > 0 && len(p) <= maxHeldHeader {
			pw.held, pw.pending, pw.first = append(pw.held[:0], p...), rest, len(p)+rest
			if pw.pieces {
				pw.first = len(p) + min(rest, SFTPPacketMax)
			}
			return len(p), nil
		}
		pw.pending = rest
		return pw.send(p)
	}
	pw.pending = max(0, pw.pending-len(p))
	if len(pw.held) == 0 { // the rest of a packet whose first piece is gone
		return pw.send(p)
	}
	n := min(len(p), pw.first-len(pw.held))
	pw.held = append(pw.held, p[:n]...)
	if pw.pending > 0 && len(pw.held) < pw.first {
		return len(p), nil // the payload comes in several writes
	}
	_, err := pw.send(pw.held)
	pw.held = pw.held[:0]
	if err == nil && n < len(p) {
		_, err = pw.send(p[n:])
	}
	return len(p), err
}

// send writes p: at once to a pipe, in pieces of at most ChannelChunk bytes to a channel (but a
// packet's first piece, SFTPPacketMax and a header, whole).
func (pw *packetWriter) send(p []byte) (int, error) {
	if !pw.pieces {
		return pw.w.Write(p)
	}
	done := 0
	for done < len(p) {
		n := len(p) - done
		if n > ChannelChunk+maxHeldHeader {
			n = ChannelChunk
		}
		m, err := pw.w.Write(p[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Close sends what is held and closes the underlying writer.
func (pw *packetWriter) Close() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	var err error
	if len(pw.held) > 0 {
		_, err = pw.send(pw.held)
		pw.held = nil
	}
	if cerr := pw.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// packetRest returns how many bytes of the SFTP packet that p opens come after p (0 when p
// holds it whole or is too short to say).
func packetRest(p []byte) int {
	if len(p) < 4 {
		return 0
	}
	whole := 4 + int64(binary.BigEndian.Uint32(p))
	return int(max(0, min(whole-int64(len(p)), 1<<20)))
}
