package relayhttp

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestChunksParseOnlyWithKnownFlagsAndABoundedSize(t *testing.T) {
	flags, data, err := openChunk(frameChunk(flagFin, []byte("hello")))
	if err != nil || flags != flagFin || !bytes.Equal(data, []byte("hello")) {
		t.Fatalf("openChunk = %x %q %v", flags, data, err)
	}
	cases := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"unknown flag", frameChunk(0x80, nil)},
		{"too large", frameChunk(0, make([]byte, MaxChunkData+1))},
	}
	for _, tc := range cases {
		if _, _, err := openChunk(tc.body); err == nil {
			t.Errorf("%s: chunk accepted", tc.name)
		}
	}
}

func TestPinTLSAllowsOnlyTLS12WithAES256GCM(t *testing.T) {
	base := &tls.Config{ServerName: "cs.example.com", MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}}
	c := PinTLS(base)
	if c.MinVersion != tls.VersionTLS12 || c.MaxVersion != tls.VersionTLS12 || c.ServerName != "cs.example.com" || c.NextProtos != nil {
		t.Fatalf("PinTLS = %+v", c)
	}
	for _, id := range c.CipherSuites {
		if name := tls.CipherSuiteName(id); name != "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" && name != "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" {
			t.Errorf("suite %s allowed", name)
		}
	}
	if base.MinVersion != tls.VersionTLS13 {
		t.Fatal("PinTLS changed its argument")
	}
}

func FuzzOpenChunk(f *testing.F) {
	f.Add(frameChunk(0, []byte("data")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		flags, data, err := openChunk(body)
		if err != nil {
			return
		}
		if flags&^flagFin != 0 || len(data) > MaxChunkData {
			t.Fatalf("accepted flags %x with %d bytes", flags, len(data))
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte{WireVersion}, "0123456789abcdef0123456789abcdef", "12")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, body []byte, id, seq string) {
		if err := parseOpen(body); err == nil && (len(body) != 1 || body[0] != WireVersion) {
			t.Fatalf("parseOpen accepted %x", body)
		}
		if got, err := parseID(id); err == nil && got != id {
			t.Fatalf("parseID changed %q to %q", id, got)
		}
		_, _ = parseSeq(seq)
		if n, err := parseCount(seq); err == nil && (n < 1 || n > span) {
			t.Fatalf("parseCount accepted %q as %d", seq, n)
		}
	})
}

func TestFramesCarryRunsOfChunksAndRefuseWhatIsNotOne(t *testing.T) {
	run := appendFrame(appendFrame(nil, 0, []byte("abc")), flagFin, nil)
	r := bytes.NewReader(run)
	for i, want := range []chunk{{flags: 0, data: []byte("abc")}, {flags: flagFin, data: []byte{}}} {
		got, err := readFrame(r, nil)
		if err != nil || got.flags != want.flags || !bytes.Equal(got.data, want.data) {
			t.Fatalf("frame %d = %+v, %v; want %+v", i, got, err, want)
		}
	}
	if _, err := readFrame(r, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("after the run: %v, want io.EOF", err)
	}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"empty frame", []byte{0, 0, 0, 0}, ErrBadChunk},
		{"too long", binary.BigEndian.AppendUint32(nil, maxChunk+1), ErrBadChunk},
		{"unknown flag", appendFrame(nil, 0x80, nil), ErrBadChunk},
		{"cut in its length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"cut in its body", appendFrame(nil, 0, []byte("abc"))[:6], io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		if _, err := readFrame(bytes.NewReader(tc.body), nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if head := frameHead(flagFin, 3); !bytes.Equal(append(head, "abc"...), appendFrame(nil, flagFin, []byte("abc"))) {
		t.Fatalf("frameHead = %x", head)
	}
}

func FuzzReadFrames(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, 0, []byte("data")), flagFin, nil))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := bytes.NewReader(body)
		var (
			again []byte
			pool  framePool
		)
		for {
			c, err := readFrame(r, &pool)
			if err != nil {
				break
			}
			if c.flags&^flagFin != 0 || len(c.data) > MaxChunkData {
				t.Fatalf("accepted flags %x with %d bytes", c.flags, len(c.data))
			}
			again = appendFrame(again, c.flags, c.data)
			pool.put(c.buf)
		}
		if !bytes.HasPrefix(body, again) {
			t.Fatalf("the frames read do not render back to the input")
		}
	})
}
