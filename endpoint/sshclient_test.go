package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/sshtest"

	"github.com/creack/pty"
	"golang.org/x/term"
)

func TestShellWithATerminal(t *testing.T) {
	client := connected(t, newFixture(t))
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	defer ptmx.Close() // first: it ends Shell's pending read of tty
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	before, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	out := newTranscript()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := Shell(t.Context(), client, tty, out, nil)
		done <- result{code, err}
	}()
	type_ := func(line string) {
		t.Helper()
		if _, err := io.WriteString(ptmx, line); err != nil {
			t.Fatal(err)
		}
	}
	type_("test -t 0 && echo on-a-tty; stty size\n")
	out.mustSee(t, "on-a-tty")
	out.mustSee(t, "24 80")

	// Resize the local terminal: SIGWINCH must reach the Host as window-change. The signal is
	// handled asynchronously, so ask again until the new size shows.
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	seen := false
	for attempt := 0; attempt < int(testTimeout/time.Second) && !seen; attempt++ {
		type_("stty size\n")
		seen = out.waitFor(t, "40 100", time.Second)
	}
	if !seen {
		t.Fatalf("the window change never reached the Host:\n%s", out)
	}

	type_("echo hi-$((1+2)); exit 3\n")
	r := <-done
	if r.err != nil || r.code != 3 {
		t.Fatalf("Shell = %d, %v; want 3", r.code, r.err)
	}
	out.mustSee(t, "hi-3")
	after, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Error("the local terminal was not restored")
	}
}

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
		t.Fatalf("NewSSHClient = %v, want ErrHostKeyMismatch", p.clientErr)
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
		_, err := Exec(ctx, client, "echo started; exec sleep 60", out, nil)
		done <- err
	}()
	out.mustSee(t, "started")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec = %v, want context.Canceled", err)
	}
	// The connection survives for the next command.
	var stdout strings.Builder
	if code, err := Exec(t.Context(), client, "echo again", &stdout, nil); err != nil || code != 0 || stdout.String() != "again\n" {
		t.Fatalf("next Exec = %d, %v, %q", code, err, stdout.String())
	}
}

func TestClientConfigValidate(t *testing.T) {
	f := newFixture(t)
	good := f.clientConfig(t, f.Cert(t, nil))
	tests := []struct {
		name string
		cfg  SSHClientConfig
		want []string
	}{
		{"valid", good, nil},
		{"empty", SSHClientConfig{}, []string{"no user", "no signer", "no pinned host key"}},
		{"unknown level", SSHClientConfig{User: good.User, Signer: good.Signer, HostKey: good.HostKey, Level: "low"}, []string{`"low"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == nil) || (err != nil && !errors.Is(err, ErrBadConfig)) {
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

func TestParseRefusal(t *testing.T) {
	for _, code := range []access.Code{access.ErrExpired, access.ErrWrongSession, access.ErrChannelNotAllowed, access.ErrHostRefused, access.ErrPrincipalMismatch} {
		line := refusalLine(fmt.Errorf("%w: details", code))
		got, ok := parseRefusal("banner text\n" + line)
		if !ok || got.Code != string(code) || !errors.Is(got, code) || !strings.HasSuffix(got.Message, ": details") {
			t.Errorf("parseRefusal(%q) = %+v, %v", line, got, ok)
		}
	}
	tests := []struct {
		name string
		text string
		ok   bool
		want string
	}{
		{"no refusal", "welcome\n", false, ""},
		{"no separator", refusalPrefix + "expired\n", false, ""},
		{"bad code", refusalPrefix + "Expired!: x\n", false, ""},
		{"escape sequences", refusalPrefix + "expired: \x1b[2Jgone\x07\r\n", true, "[2Jgone"},
		{"unknown code", refusalPrefix + "future_reason: later\n", true, "later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRefusal(tt.text)
			if ok != tt.ok || (ok && got.Message != tt.want) {
				t.Fatalf("parseRefusal = %+v, %v", got, ok)
			}
		})
	}
	if (&RefusedError{Code: "future_reason"}).Unwrap() != nil {
		t.Error("an unknown code unwraps to a sentinel")
	}
}

func FuzzParseRefusal(f *testing.F) {
	for _, code := range []access.Code{access.ErrExpired, access.ErrWrongSession, access.ErrHostRefused} {
		f.Add(refusalLine(code))
	}
	f.Add(refusalPrefix + "expired: " + strings.Repeat("é", MaxRefusalBytes))
	f.Add("\xff" + refusalPrefix + "x: \x00\x1b")
	f.Fuzz(func(t *testing.T, text string) {
		got, ok := parseRefusal(text)
		if !ok {
			return
		}
		if !validRefusalCode(got.Code) {
			t.Fatalf("code %q", got.Code)
		}
		if len(got.Message) > MaxRefusalBytes || !utf8.ValidString(got.Message) ||
			strings.ContainsFunc(got.Message, func(r rune) bool { return !unicode.IsPrint(r) }) {
			t.Fatalf("unsafe message %q", got.Message)
		}
	})
}
