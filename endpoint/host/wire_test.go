package host

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
)

// roundTrip checks that a decoded payload encodes back to exactly the payload, and that a
// refused payload is refused with ErrRequestRefused.
func roundTrip[T any](t *testing.T, parse func([]byte) (T, error), payload []byte) {
	msg, err := parse(payload)
	if err != nil {
		if !errors.Is(err, access.ErrRequestRefused) {
			t.Fatalf("refusal %v does not wrap access.ErrRequestRefused", err)
		}
		return
	}
	if again := ssh.Marshal(&msg); !bytes.Equal(again, payload) {
		t.Fatalf("%T decoded from %x encodes to %x", msg, payload, again)
	}
}

func FuzzRequestPayloads(f *testing.F) {
	f.Add(ssh.Marshal(ptyRequestMsg{Term: "xterm", Columns: 80, Rows: 24}))
	f.Add(ssh.Marshal(windowChangeMsg{Columns: 1 << 20, Rows: 40}))
	f.Add(ssh.Marshal(execMsg{Command: "echo hi"}))
	f.Add(ssh.Marshal(envMsg{Name: "LC_ALL", Value: "C"}))
	f.Add(ssh.Marshal(signalMsg{Signal: "INT"}))
	f.Add(ssh.Marshal(directTCPIPMsg{Host: "db", Port: 5432, OriginHost: "127.0.0.1", OriginPort: 1}))
	f.Add([]byte{0, 0, 0, 5, 'x'})
	f.Fuzz(func(t *testing.T, payload []byte) {
		roundTrip(t, parsePTYRequest, payload)
		roundTrip(t, parseWindowChange, payload)
		roundTrip(t, parseExec, payload)
		roundTrip(t, parseEnv, payload)
		roundTrip(t, parseSubsystem, payload)
		roundTrip(t, parseSignal, payload)
		roundTrip(t, parseDirectTCPIP, payload)
		if msg, err := parseWindowChange(payload); err == nil {
			ws := winsize(msg.Columns, msg.Rows, msg.Width, msg.Height)
			if uint32(ws.Cols) != min(msg.Columns, 1<<16-1) || uint32(ws.Rows) != min(msg.Rows, 1<<16-1) {
				t.Fatalf("winsize(%+v) = %+v", msg, ws)
			}
		}
	})
}
