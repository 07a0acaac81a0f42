package relayhttp

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"testing"
)

func testKeys(t testing.TB) keys {
	c, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := c.ECDH(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	k, err := deriveKeys(shared, c.PublicKey().Bytes(), s.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestChunksOpenOnlyWithTheirKeyTunnelDirectionAndSequence(t *testing.T) {
	k := testKeys(t)
	id := "0123456789abcdef0123456789abcdef"
	sealed := seal(k.toServer, id, dirToServer, 7, flagFin, []byte("hello"))
	flags, data, err := openChunk(k.toServer, id, dirToServer, 7, sealed)
	if err != nil || flags != flagFin || !bytes.Equal(data, []byte("hello")) {
		t.Fatalf("openChunk = %x %q %v", flags, data, err)
	}
	cases := []struct {
		name string
		open func() error
	}{
		{"other direction's key", func() error { _, _, err := openChunk(k.toClient, id, dirToServer, 7, sealed); return err }},
		{"other direction", func() error { _, _, err := openChunk(k.toServer, id, dirToClient, 7, sealed); return err }},
		{"other sequence", func() error { _, _, err := openChunk(k.toServer, id, dirToServer, 8, sealed); return err }},
		{"other tunnel", func() error {
			_, _, err := openChunk(k.toServer, "ffffffffffffffffffffffffffffffff", dirToServer, 7, sealed)
			return err
		}},
		{"truncated", func() error { _, _, err := openChunk(k.toServer, id, dirToServer, 7, sealed[:5]); return err }},
		{"unknown flag", func() error {
			_, _, err := openChunk(k.toServer, id, dirToServer, 1, seal(k.toServer, id, dirToServer, 1, 0x80, nil))
			return err
		}},
	}
	for _, tc := range cases {
		if err := tc.open(); err == nil {
			t.Errorf("%s: chunk opened", tc.name)
		}
	}
}

func FuzzOpenChunk(f *testing.F) {
	k := testKeys(f)
	id := "0123456789abcdef0123456789abcdef"
	f.Add(uint64(0), seal(k.toServer, id, dirToServer, 0, 0, []byte("data")))
	f.Add(uint64(1), []byte{})
	f.Fuzz(func(t *testing.T, seq uint64, sealed []byte) {
		flags, data, err := openChunk(k.toServer, id, dirToServer, seq, sealed)
		if err != nil {
			return
		}
		if flags&^flagFin != 0 || len(data) > MaxChunkData {
			t.Fatalf("accepted flags %x with %d bytes", flags, len(data))
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("\x01"+string(make([]byte, 32))), "0123456789abcdef0123456789abcdef", "12")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, body []byte, id, seq string) {
		if pub, err := parseOpen(body); err == nil && len(pub.Bytes()) != 32 {
			t.Fatalf("parseOpen accepted a %d-byte key", len(pub.Bytes()))
		}
		if got, err := parseID(id); err == nil && got != id {
			t.Fatalf("parseID changed %q to %q", id, got)
		}
		_, _ = parseSeq(seq)
	})
}
