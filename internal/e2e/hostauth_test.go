package e2e

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
)

// kiosk is a Host whose owner demands a host-local password, and whose tag makes the policy
// demand the local user's confirmation; it is started once, by the first test that needs it.
var kiosk = struct {
	once   sync.Once
	socket string
	err    error
}{}

func kioskHost(t *testing.T) string {
	t.Helper()
	kiosk.once.Do(func() {
		dir, err := os.MkdirTemp(filepath.Dir(sys.c.CertsDir()), "kiosk-") // removed with the suite
		if err != nil {
			kiosk.err = err
			return
		}
		passwords := filepath.Join(dir, "passwd")
		passwd := exec.Command(sys.bin, "host", "passwd", "--password-file", passwords, "maint")
		passwd.Stdin = strings.NewReader("kiosk-pass\n")
		if out, err := passwd.CombinedOutput(); err != nil {
			kiosk.err = err
			t.Logf("host passwd: %s", out)
			return
		}
		kiosk.socket = filepath.Join(dir, "confirm.sock")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, kiosk.err = sys.c.StartHost(ctx, sys.users["dave@example.com"], localstack.HostSpec{
			Name: "kiosk-1", Tenant: "acme", Tags: map[string]string{"env": "staging", "confirm": "required"},
			Args: []string{"--auth-chain", "password", "--password-file", passwords,
				"--confirm-socket", kiosk.socket, "--confirm-timeout", "30s"},
		})
	})
	if kiosk.err != nil {
		t.Fatalf("start kiosk-1: %v", kiosk.err)
	}
	return kiosk.socket
}

// localUser answers the kiosk's confirm socket from a terminal with `portcullis host confirm`.
func localUser(t *testing.T, socket, answer string) *syncbuf.Buffer {
	t.Helper()
	cmd := exec.Command(sys.bin, "host", "confirm", "--confirm-socket", socket)
	cmd.Stdin = strings.NewReader(answer + "\n")
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return out
}

// execOnATerminal runs `portcullis exec kiosk-1` on a terminal, typing the logon and the
// password when asked, and returns what the terminal showed and the exit status.
func execOnATerminal(t *testing.T, password string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, sys.users["alice@example.com"], "exec", "kiosk-1", "--", "echo in-the-kiosk")
	return typeOnATerminal(ctx, t, cmd, []typed{{"Logon:", "maint"}, {"Password:", password}})
}

// typed is an answer a person types once the terminal shows its prompt.
type typed struct{ prompt, answer string }

// typeOnATerminal runs cmd on a terminal, typing each answer the moment its prompt appears,
// and returns what the terminal showed and the exit status.
func typeOnATerminal(ctx context.Context, t *testing.T, cmd *exec.Cmd, answers []typed) (string, int) {
	t.Helper()
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	screen := &syncbuf.Buffer{}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(screen, ptmx)
		close(copied)
	}()
	for _, step := range answers {
		for !strings.Contains(screen.String(), step.prompt) {
			if ctx.Err() != nil {
				t.Fatalf("never asked %q; terminal:\n%s", step.prompt, screen.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		io.WriteString(ptmx, step.answer+"\n")
	}
	_ = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	return screen.String(), cmd.ProcessState.ExitCode()
}

// TestHostPasswdAsksTwiceOnATerminalWithoutEcho types the new password the moment each prompt
// appears: echo must already be off by then.
func TestHostPasswdAsksTwiceOnATerminalWithoutEcho(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	for _, tc := range []struct {
		name, again string
		wantSaved   bool
	}{
		{name: "the same twice", again: "n3w-pass", wantSaved: true},
		{name: "differing", again: "n3w-pasz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(file)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, sys.bin, "host", "passwd", "--password-file", file, "maint")
			screen, code := typeOnATerminal(ctx, t, cmd, []typed{{"New password:", "n3w-pass"}, {"Again:", tc.again}})
			if strings.Contains(screen, "n3w-pas") {
				t.Errorf("the password was echoed:\n%s", screen)
			}
			saved, err := os.ReadFile(file)
			if tc.wantSaved && (code != 0 || err != nil || !strings.Contains(string(saved), "maint")) {
				t.Fatalf("exit %d, file %q (%v); terminal:\n%s", code, saved, err, screen)
			}
			if !tc.wantSaved && (code == 0 || !strings.Contains(screen, "differ") || err == nil) {
				t.Fatalf("exit %d, file error %v (want none written); terminal:\n%s", code, err, screen)
			}
		})
	}
}

func TestKioskAsksForItsPasswordAndItsUsersConsent(t *testing.T) {
	socket := kioskHost(t)
	notifier := localUser(t, socket, "y")
	screen, code := execOnATerminal(t, "kiosk-pass")
	if code != 0 || !strings.Contains(screen, "in-the-kiosk") {
		t.Fatalf("exit %d; terminal:\n%s", code, screen)
	}
	if strings.Contains(screen, "kiosk-pass") {
		t.Errorf("the password was echoed:\n%s", screen)
	}
	if !strings.Contains(notifier.String(), "alice@example.com") || !strings.Contains(notifier.String(), "kiosk-1") {
		t.Errorf("the local user was not shown who asks for what:\n%s", notifier.String())
	}
}

func TestKioskRefusalsNameTheScheme(t *testing.T) {
	socket := kioskHost(t)
	localUser(t, socket, "n")
	screen, code := execOnATerminal(t, "kiosk-pass")
	if code == 0 || !strings.Contains(screen, "host scheme confirm refused") || !strings.Contains(screen, "declined") {
		t.Fatalf("declined by the local user: exit %d; terminal:\n%s", code, screen)
	}
	refusedOnlyWithTheReason(t, screen, code)
	screen, code = execOnATerminal(t, "not-the-password")
	if code == 0 || !strings.Contains(screen, "host scheme password refused") || !strings.Contains(screen, "wrong logon or password") {
		t.Fatalf("wrong password: exit %d; terminal:\n%s", code, screen)
	}
	refusedOnlyWithTheReason(t, screen, code)
}

// refusedOnlyWithTheReason checks that a Host-side refusal exits like a central one (77) and
// prints the reason without the SSH library's words around it.
func refusedOnlyWithTheReason(t *testing.T, screen string, code int) {
	t.Helper()
	if code != 77 {
		t.Errorf("a Host-side refusal exited %d, want 77 like a refusal by the CM", code)
	}
	for _, noise := range []string{"no supported methods remain", "unexpected message type", "ssh: handshake failed", "attempted methods"} {
		if strings.Contains(screen, noise) {
			t.Errorf("the refusal carries SSH noise %q:\n%s", noise, screen)
		}
	}
}

func TestOpenSSHAnswersTheKiosksPasswordOverKeyboardInteractive(t *testing.T) {
	socket := kioskHost(t)
	localUser(t, socket, "y")
	o := newOpenSSH(t, "alice@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", o.config, "kiosk-1.portcullis", "echo openssh-in-the-kiosk")
	cmd.Env = o.env
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	screen := &syncbuf.Buffer{}
	go func() { _, _ = io.Copy(screen, ptmx) }()
	for _, step := range []struct{ prompt, answer string }{{"Logon:", "maint"}, {"Password:", "kiosk-pass"}} {
		for !strings.Contains(screen.String(), step.prompt) {
			if ctx.Err() != nil {
				t.Fatalf("ssh never asked %q; terminal:\n%s", step.prompt, screen.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		io.WriteString(ptmx, step.answer+"\n")
	}
	err = cmd.Wait()
	for !strings.Contains(screen.String(), "openssh-in-the-kiosk") && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.Contains(screen.String(), "openssh-in-the-kiosk") {
		t.Fatalf("ssh: %v; terminal:\n%s", err, screen.String())
	}
}
