package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// scriptedCS reads one hello from its end of a pipe and answers with the given raw bytes; it
// stands in for a CS that breaks the protocol, which the real Server never does.
func scriptedCS(t *testing.T, answer []byte) net.Conn {
	t.Helper()
	client, cs := net.Pipe()
	t.Cleanup(func() { _ = client.Close(); _ = cs.Close() })
	go func() {
		if _, err := readHello(cs); err != nil {
			return // the client gave up before its hello (context test); nothing to answer
		}
		_, _ = cs.Write(answer)
	}()
	return client
}

func TestHandshakeRefusesAnswersOutsideTheProtocol(t *testing.T) {
	accepted := frameBytes(t, frameAccepted, nil)
	cases := []struct {
		name   string
		answer []byte
	}{
		{"unknown frame type", frameBytes(t, frameType(0x7e), nil)},
		{"a hello back", frameBytes(t, frameHello, []byte("x"))},
		{"accepted twice", append(append([]byte{}, accepted...), accepted...)},
		{"paired with a payload", frameBytes(t, framePaired, []byte("x"))},
		{"plain legs it never asked for", frameBytes(t, framePaired, []byte{pairedPlain})},
		{"refused with an invalid code", frameBytes(t, frameRefused, []byte("Bad Code\n"))},
		{"refused without a code", frameBytes(t, frameRefused, nil)},
		{"oversized answer", frameHeader(frameRefused, uint32(maxResponseLen+1))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			err := Handshake(ctx, scriptedCS(t, tc.answer), access.RoleGuest, sampleTicket)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Handshake = %v, want ErrProtocol", err)
			}
		})
	}
}

func TestHandshakePlainRefusesAnswersOutsideTheProtocol(t *testing.T) {
	for name, answer := range map[string][]byte{
		"paired with an unknown payload": frameBytes(t, framePaired, []byte{0x02}),
		"paired with two bytes":          frameBytes(t, framePaired, []byte{pairedPlain, pairedPlain}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			_, err := handshake(ctx, scriptedCS(t, answer), access.RoleGuest, sampleTicket, true)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("handshake = %v, want ErrProtocol", err)
			}
		})
	}
}

// FuzzAwaitPaired feeds arbitrary answers of a CS to an endpoint: it accepts only the
// protocol's sequences, and plain legs only when it asked for them.
func FuzzAwaitPaired(f *testing.F) {
	frame := func(t frameType, p []byte) []byte {
		b := frameHeader(t, uint32(len(p)))
		return append(b, p...)
	}
	accepted := frame(frameAccepted, nil)
	f.Add(append(accepted, frame(framePaired, nil)...), false)
	f.Add(append(accepted, frame(framePaired, []byte{pairedPlain})...), true)
	f.Add(append(accepted, frame(framePaired, []byte{pairedPlain})...), false)
	f.Add(frame(frameRefused, []byte(access.ErrExpired)), true)
	f.Add(frameHeader(frameRefused, uint32(maxResponseLen+1)), false)
	f.Fuzz(func(t *testing.T, data []byte, askedPlain bool) {
		r := bytes.NewReader(data)
		plain, err := awaitPaired(t.Context(), readerConn{r}, askedPlain)
		if err != nil {
			if plain {
				t.Fatalf("plain legs announced with an error: %v", err)
			}
			return
		}
		if plain && !askedPlain {
			t.Fatalf("plain legs accepted without asking, from %q", data)
		}
		// What it read is at most one frameAccepted, then framePaired.
		var types []frameType
		for rest := bytes.NewReader(data[:len(data)-r.Len()]); rest.Len() > 0; {
			typ, _, err := readFrame(rest, maxResponseLen, ErrProtocol)
			if err != nil {
				t.Fatalf("paired on bytes that are not whole frames: %v", err)
			}
			types = append(types, typ)
		}
		if n := len(types); n == 0 || n > 2 || types[n-1] != framePaired || n == 2 && types[0] != frameAccepted {
			t.Fatalf("paired after the frames %v", types)
		}
	})
}

// readerConn is a net.Conn that reads from r and does nothing else.
type readerConn struct{ r io.Reader }

func (c readerConn) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (readerConn) Write(p []byte) (int, error)      { return len(p), nil }
func (readerConn) Close() error                     { return nil }
func (readerConn) LocalAddr() net.Addr              { return nil }
func (readerConn) RemoteAddr() net.Addr             { return nil }
func (readerConn) SetDeadline(time.Time) error      { return nil }
func (readerConn) SetReadDeadline(time.Time) error  { return nil }
func (readerConn) SetWriteDeadline(time.Time) error { return nil }

func TestHandshakeReturnsTheRefusalCode(t *testing.T) {
	answer := append(frameBytes(t, frameAccepted, nil), frameBytes(t, frameRefused, []byte("internal"))...)
	err := Handshake(t.Context(), scriptedCS(t, answer), access.RoleHost, sampleTicket)
	wantRefused(t, err, access.ErrInternal, access.ErrInternal)
}

func TestHandshakeStopsWhenItsContextEnds(t *testing.T) {
	conn := scriptedCS(t, frameBytes(t, frameAccepted, nil)) // accepted, then silence
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Handshake(ctx, conn, access.RoleGuest, sampleTicket) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Handshake = %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Handshake ignored its context")
	}
}

func TestDialRefusesATicketItCannotReadWithoutConnecting(t *testing.T) {
	_, err := Dial(t.Context(), "127.0.0.1:1", nil, "not-a-ticket")
	if !errors.Is(err, access.ErrMalformed) {
		t.Fatalf("Dial = %v, want access.ErrMalformed", err)
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		t.Errorf("a local parse failure claims to be a refusal by a CS: %v", err)
	}
}
