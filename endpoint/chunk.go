package endpoint

import "io"

// ChannelChunk is the most channel data an end puts in one SSH packet when it copies a
// stream: the packet (length, padding length, 9 bytes of message header, at least 4 bytes of
// padding to a multiple of 16, a 16-byte tag or a 32-byte encrypt-then-MAC tag) then fits in
// two full TLS records (32 KiB), where 32 KiB of data would spill into a third, small one.
const ChannelChunk = 32<<10 - 64

// toChannelChunks is how many packets' worth CopyToChannel reads at once: a source that has
// that much ready (a bulk transfer) is read in one system call rather than one per packet.
const toChannelChunks = 4

// CopyToChannel copies src to an SSH channel (dst) until src ends, sending what each read
// returned in packets of at most ChannelChunk bytes; it returns the bytes copied and the first
// error other than io.EOF.
func CopyToChannel(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, toChannelChunks*ChannelChunk)
	var written int64
	for {
		n, rerr := src.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			packet := p[:min(len(p), ChannelChunk)]
			m, err := dst.Write(packet)
			written += int64(m)
			if err == nil && m != len(packet) {
				err = io.ErrShortWrite // as io.Copy: a writer that takes less must say why
			}
			if err != nil {
				return written, err
			}
			p = p[m:]
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// fromChannelBuffer is the buffer CopyFromChannel reads an SSH channel into: a channel's Read
// returns every packet that has arrived, so a reader that fell behind catches up in one read and
// one write rather than one per packet.
const fromChannelBuffer = 128 << 10

// CopyFromChannel copies an SSH channel (src) to dst until the channel ends; it returns the bytes
// copied and the first error other than io.EOF.
func CopyFromChannel(dst io.Writer, src io.Reader) (int64, error) {
	return io.CopyBuffer(writerOnly{dst}, readerOnly{src}, make([]byte, fromChannelBuffer))
}

// ChannelWriter is an SSH channel that copies what is read into it in chunks of ChannelChunk
// (os/exec copies a program's output with ReadFrom when the writer has it).
type ChannelWriter struct{ io.Writer }

// ReadFrom copies r to the channel with CopyToChannel.
func (w ChannelWriter) ReadFrom(r io.Reader) (int64, error) { return CopyToChannel(w.Writer, r) }

// writerOnly hides everything but Write, so that io.CopyBuffer uses its buffer.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }
