package endpoint

import (
	"encoding/binary"
	"io"
	"sync"
)

// SFTPPacketMax is the most file data one SFTP read or write request carries between Portcullis
// ends: with its packet header (13 bytes for a data reply, under 64 for a write request) it
// fits one SSH channel packet (32 KiB), so that a request is one SSH packet, not a full one and
// a scrap.
const SFTPPacketMax = 1<<15 - 64

// maxHeldHeader is the longest write WholeSFTPPackets may hold: pkg/sftp writes a packet's
// header and its payload separately, and headers are short.
const maxHeldHeader = 64

// WholeSFTPPackets returns w writing each SFTP packet with one Write: a short write that opens a
// packet longer than itself (pkg/sftp sends the header, then the payload) is held and sent
// with the rest of its packet. Writes must start on packet boundaries, as pkg/sftp's are; Close
// sends what is held, then closes w.
func WholeSFTPPackets(w io.WriteCloser) io.WriteCloser {
	return &packetWriter{w: w}
}

// packetWriter joins a held SFTP packet header to its payload.
type packetWriter struct {
	w       io.WriteCloser
	mu      sync.Mutex
	held    []byte // the start of a packet; empty when nothing is held
	pending int    // bytes of the held packet still to come
}

// Write holds or sends p; it reports len(p) written unless the underlying write fails.
func (pw *packetWriter) Write(p []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if len(pw.held) == 0 {
		if rest := packetRest(p); rest > 0 && len(p) <= maxHeldHeader {
			pw.held, pw.pending = append(pw.held, p...), rest
			return len(p), nil
		}
		return pw.w.Write(p)
	}
	pw.held = append(pw.held, p...)
	if pw.pending -= len(p); pw.pending > 0 {
		return len(p), nil
	}
	_, err := pw.w.Write(pw.held)
	pw.held = pw.held[:0]
	return len(p), err
}

// Close sends what is held and closes the underlying writer.
func (pw *packetWriter) Close() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	var err error
	if len(pw.held) > 0 {
		_, err = pw.w.Write(pw.held)
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
