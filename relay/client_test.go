package relay

import (
	"context"
	"errors"
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
