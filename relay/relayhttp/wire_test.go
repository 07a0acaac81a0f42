package relayhttp

import (
	"bytes"
	"crypto/tls"
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
	})
}
