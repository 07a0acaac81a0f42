package endpoint

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// recorder records every Write it is given.
type recorder struct {
	writes [][]byte
	closed bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Close() error { r.closed = true; return nil }

// header returns the start of an SFTP packet whose body (after the length) is bodyLen bytes.
func header(bodyLen int, rest ...byte) []byte {
	h := binary.BigEndian.AppendUint32(nil, uint32(bodyLen))
	return append(h, rest...)
}

func TestWholeSFTPPacketsJoinsAHeaderToItsPayload(t *testing.T) {
	payload := bytes.Repeat([]byte{7}, SFTPPacketMax)
	large := bytes.Repeat([]byte{8}, SFTPLargePacket)
	dataHeader := func(n int) []byte { return header(9+n, 103, 0, 0, 0, 1, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)) }
	pieces := append([]int{13 + SFTPPacketMax}, slices.Repeat([]int{ChannelChunk}, 7)...)
	for _, c := range []struct {
		name   string
		out    SFTPOutput
		writes [][]byte
		want   []int // lengths of the writes that reach the underlying writer
	}{
		{"header then payload", ToPipe, [][]byte{dataHeader(SFTPPacketMax), payload}, []int{13 + SFTPPacketMax}},
		{"header then payload, to a channel", ToChannel, [][]byte{dataHeader(SFTPPacketMax), payload}, []int{13 + SFTPPacketMax}},
		{"a whole packet passes at once", ToPipe, [][]byte{header(5, 101, 0, 0, 0, 2)}, []int{9}},
		{"a payload in two writes", ToPipe, [][]byte{header(9, 103), {0, 0, 0, 1}, {0, 0, 0, 0}}, []int{13}},
		{"a payload in two writes, to a channel", ToChannel, [][]byte{header(9, 103), {0, 0, 0, 1}, {0, 0, 0, 0}}, []int{13}},
		{"a long first write is never held", ToPipe, [][]byte{payload}, []int{SFTPPacketMax}},
		{"three bytes cannot say", ToPipe, [][]byte{{0, 0, 0}}, []int{3}},
		{"packets one after another", ToPipe, [][]byte{header(5, 101, 0, 0, 0, 2), header(9, 103), {1, 2, 3, 4, 5, 6, 7, 8}, header(5, 101, 0, 0, 0, 3)}, []int{9, 13, 9}},
		{"a large packet to a pipe goes whole", ToPipe, [][]byte{dataHeader(SFTPLargePacket), large}, []int{13 + SFTPLargePacket}},
		{"a large packet to a channel goes in SSH packets", ToChannel, [][]byte{dataHeader(SFTPLargePacket), large}, pieces},
		{"a large packet to a channel, then a short one", ToChannel, [][]byte{dataHeader(SFTPLargePacket), large, header(5, 101, 0, 0, 0, 3)}, append(slices.Clone(pieces), 9)},
		{"a large first write to a channel is cut", ToChannel, [][]byte{append(dataHeader(SFTPLargePacket), large...)}, append(slices.Repeat([]int{ChannelChunk}, 7), ChannelChunk+13)},
		{"the rest of a large payload in a second write", ToChannel, [][]byte{dataHeader(SFTPLargePacket), large[:100], large[100:]}, pieces},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			w := WholeSFTPPackets(rec, c.out)
			var sent []byte
			for _, p := range c.writes {
				if n, err := w.Write(p); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
				}
				sent = append(sent, p...)
			}
			var got []int
			var arrived []byte
			for _, p := range rec.writes {
				got = append(got, len(p))
				arrived = append(arrived, p...)
			}
			if !slices.Equal(got, c.want) || !bytes.Equal(arrived, sent) {
				t.Errorf("writes of %v bytes (intact: %v), want %v", got, bytes.Equal(arrived, sent), c.want)
			}
		})
	}
}

func TestWholeSFTPPacketsSendsWhatItHoldsOnClose(t *testing.T) {
	rec := &recorder{}
	w := WholeSFTPPackets(rec, ToPipe)
	if _, err := w.Write(header(100, 103)); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 0 {
		t.Fatalf("the header of an unfinished packet was sent: %v", rec.writes)
	}
	if err := w.Close(); err != nil || !rec.closed || len(rec.writes) != 1 || len(rec.writes[0]) != 5 {
		t.Errorf("Close = %v, closed %v, writes %v; want the held bytes sent, then closed", err, rec.closed, rec.writes)
	}
}
