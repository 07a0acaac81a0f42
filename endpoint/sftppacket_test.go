package endpoint

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseSFTPPacketAnswer(t *testing.T) {
	answer := func(n uint32) []byte { return ssh.Marshal(SFTPPacketAnswer{ReadMax: n}) }
	for _, c := range []struct {
		name    string
		payload []byte
		want    int // 0: refused
	}{
		{"the large size", answer(SFTPLargePacket), SFTPLargePacket},
		{"the small size", answer(SFTPPacketMax), SFTPPacketMax},
		{"between", answer(100000), 100000},
		{"more than the Guest asks for", answer(1 << 30), SFTPLargePacket},
		{"later fields are ignored", append(answer(SFTPLargePacket), 1, 2, 3), SFTPLargePacket},
		{"less than every server reads", answer(SFTPPacketMax - 1), 0},
		{"zero", answer(0), 0},
		{"empty", nil, 0},
		{"short", []byte{0, 4, 0}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSFTPPacketAnswer(c.payload)
			if c.want == 0 {
				if !errors.Is(err, ErrBadSFTPPacketAnswer) {
					t.Fatalf("ParseSFTPPacketAnswer = %d, %v; want ErrBadSFTPPacketAnswer", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseSFTPPacketAnswer = %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

// FuzzParseSFTPPacketAnswer: the answer is bytes from the Host; decoding never panics, and a
// size it accepts is one the Guest can send and receive (SFTPPacketMax to SFTPLargePacket) and
// no more than the Host said.
func FuzzParseSFTPPacketAnswer(f *testing.F) {
	f.Add(ssh.Marshal(SFTPPacketAnswer{ReadMax: SFTPLargePacket}))
	f.Add([]byte{0, 0, 0x7f, 0xbf, 9})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		n, err := ParseSFTPPacketAnswer(payload)
		if err != nil {
			return
		}
		if n < SFTPPacketMax || n > SFTPLargePacket || len(payload) < 4 || uint64(n) > uint64(binary.BigEndian.Uint32(payload)) {
			t.Fatalf("payload %x accepted as %d", payload, n)
		}
	})
}
