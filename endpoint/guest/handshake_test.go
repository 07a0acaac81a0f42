package guest

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/sshtest"
)

func TestShellWithoutATerminal(t *testing.T) {
	client := connected(t, newFixture(t))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.WriteString(w, "test -t 0 || echo no-tty; echo hi-$((1+2)); exit 3\n"); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	out := newTranscript()
	code, err := Shell(t.Context(), client, r, out, nil)
	if err != nil || code != 3 {
		t.Fatalf("Shell = %d, %v; want 3", code, err)
	}
	if got := out.String(); got != "no-tty\nhi-3\n" {
		t.Errorf("output %q", got)
	}
}

func TestGuestPinsTheHostKey(t *testing.T) {
	f := newFixture(t)
	ccfg := f.clientConfig(t, f.Cert(t, nil))
	ccfg.HostKey = sshtest.NewSigner(t).PublicKey()
	p := connect(t, t.Context(), f.serverConfig(), ccfg)
	if !errors.Is(p.clientErr, ErrHostKeyMismatch) {
		t.Fatalf("Handshake = %v, want ErrHostKeyMismatch", p.clientErr)
	}
	if p.served() == nil {
		t.Error("ServeSSH reported success for an aborted handshake")
	}
}

func TestExecEndsWithItsContext(t *testing.T) {
	client := connected(t, newFixture(t))
	ctx, cancel := context.WithCancel(t.Context())
	out := newTranscript()
	done := make(chan error, 1)
	go func() {
		_, err := Exec(ctx, client, "echo started; exec sleep 60", nil, out, nil)
		done <- err
	}()
	out.MustSee(t, "started")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec = %v, want context.Canceled", err)
	}
	// The connection survives for the next command.
	var stdout strings.Builder
	if code, err := Exec(t.Context(), client, "echo again", nil, &stdout, nil); err != nil || code != 0 || stdout.String() != "again\n" {
		t.Fatalf("next Exec = %d, %v, %q", code, err, stdout.String())
	}
}

func TestClientConfigValidate(t *testing.T) {
	f := newFixture(t)
	good := f.clientConfig(t, f.Cert(t, nil))
	tests := []struct {
		name string
		cfg  SSHConfig
		want []string
	}{
		{"valid", good, nil},
		{"empty", SSHConfig{}, []string{"no user", "no signer", "no pinned host key"}},
		{"unknown level", SSHConfig{User: good.User, Signer: good.Signer, HostKey: good.HostKey, Level: "low"}, []string{`"low"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == nil) || (err != nil && !errors.Is(err, endpoint.ErrBadConfig)) {
				t.Fatalf("Validate = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
}
