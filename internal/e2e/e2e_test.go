package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// decisionRE and sessionRE read what `exec -v` prints: the decision, and the session, relay and
// transport.
var (
	decisionRE = regexp.MustCompile(`decision (dec_[0-9a-f]+)`)
	sessionRE  = regexp.MustCompile(`session (ses_[0-9a-f]+) to \S+ via relay (\S+) over (\S+),`)
)

func TestOpsEngineerRunsACommandOnAProductionHostThroughTheRelay(t *testing.T) {
	stdout, stderr, code := guest(t, "alice@example.com", "exec", "-v", "db-1", "--", "echo to-stdout; echo to-stderr >&2; exit 3")
	if code != 3 {
		t.Fatalf("exit status = %d, want 3 (the remote command's); stderr:\n%s", code, stderr)
	}
	if stdout != "to-stdout\n" {
		t.Errorf("stdout = %q, want only the command's stdout", stdout)
	}
	if !strings.Contains(stderr, "to-stderr") || strings.Contains(stdout, "to-stderr") {
		t.Errorf("stderr = %q: stdout and stderr must stay apart", stderr)
	}
	m := decisionRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no decision id in %q", stderr)
	}
	d, err := sys.c.Decision(context.Background(), sys.users["carol@example.com"], m[1])
	if err != nil {
		t.Fatalf("auditor reads the decision: %v", err)
	}
	if !d.Allow || d.Subject != "alice@example.com" || d.HostName != "db-1" || d.Revision == "" {
		t.Errorf("decision record = %+v, want an allow for alice on db-1 with a policy revision", d)
	}
}

func TestMalloryIsRefusedAndTheDecisionLogSaysWhy(t *testing.T) {
	_, stderr, code := guest(t, "mallory@example.com", "exec", "db-1", "--", "touch /tmp/mallory-was-here")
	if code != 77 {
		t.Fatalf("exit status = %d, want 77 (denied); stderr:\n%s", code, stderr)
	}
	m := decisionRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("the refusal names no decision: %q", stderr)
	}
	d, err := sys.c.Decision(context.Background(), sys.users["carol@example.com"], m[1])
	if err != nil {
		t.Fatalf("auditor reads the decision: %v", err)
	}
	if d.Allow || len(d.Reasons) == 0 {
		t.Errorf("decision = %+v, want a deny with reasons", d)
	}
	for _, r := range d.Reasons {
		if !strings.Contains(stderr, r) {
			t.Errorf("the user is not told the reason %q; stderr:\n%s", r, stderr)
		}
	}
}

func TestProductionRequiresMFA(t *testing.T) {
	ctx := context.Background()
	noMFA, err := sys.c.Login(ctx, "alice@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the login above replaced alice's cached sign-in: restore the MFA one
		if u, err := sys.c.Login(ctx, "alice@example.com", "password", "123456"); err != nil {
			t.Errorf("sign alice in again with MFA: %v", err)
		} else {
			sys.users["alice@example.com"] = u
		}
	})
	cmd := sys.c.Guest(ctx, noMFA, "exec", "db-1", "--", "true")
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 77 || !strings.Contains(string(out), "MFA is required for production") {
		t.Fatalf("alice without MFA: exit %d, output:\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

func TestContractorReachesStagingButNotProduction(t *testing.T) {
	// bob's window is weekdays 08:00-18:00 Copenhagen; the suite's clock is the real one, so
	// only the staging-vs-production rule is asserted here (the window is the policy's tests').
	_, stderr, code := guest(t, "bob@example.com", "exec", "db-1", "--", "true")
	if code != 77 {
		t.Fatalf("bob on db-1: exit %d, want 77; stderr:\n%s", code, stderr)
	}
}

func TestTheRelayNeverSeesTheSessionInClear(t *testing.T) {
	marker := "secret-" + rand.Text()
	before := len(sys.tap.Recorded())
	stdout, stderr, code := guest(t, "alice@example.com", "exec", "web-1", "--", "echo "+marker+" | rev | rev")
	if code != 0 || !strings.Contains(stdout, marker) {
		t.Fatalf("exec: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	spliced := sys.tap.Recorded()[before:]
	if !bytes.Contains(spliced, []byte("SSH-2.0-")) {
		t.Fatalf("the tap saw %d bytes without an SSH banner: it is not in front of the session", len(spliced))
	}
	if bytes.Contains(spliced, []byte(marker)) {
		t.Fatal("the marker sent through the session appears in the bytes the CS spliced")
	}
}

func TestTheHostHasNoListeningSocket(t *testing.T) {
	for name, p := range sys.hosts {
		if p.Exited() {
			t.Fatalf("host %s is not running", name)
		}
		ls, err := listeningSockets(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) > 0 {
			t.Errorf("host %s (pid %d) listens on %v", name, p.Pid(), ls)
		}
		conns, err := socketInodes(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if len(conns) == 0 {
			t.Errorf("host %s holds no socket at all: the check would prove nothing", name)
		}
	}
}

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outb, err := exec.CommandContext(ctx, sys.bin, "demo").CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("portcullis demo: %v\n%s", err, out)
	}
	for _, want := range []string{"hello from", "demo passed", "allow: alice@example.com on db-1", "allows: ", "denied", "What to try next"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// A summary, not the record: mallory's refusal and what to try next fit on one screen.
	if lines := strings.Count(out, "\n"); lines > 45 || strings.Contains(out, `"input":`) {
		t.Errorf("demo printed %d lines (the whole record?); want a short summary:\n%s", lines, out)
	}
}

// socketInodes returns the inodes of the sockets a process holds open.
func socketInodes(pid int) (map[string]bool, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	return inodes, nil
}

// listeningSockets returns the local addresses of TCP sockets in LISTEN state that the
// process holds.
func listeningSockets(pid int) ([]string, error) {
	mine, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			const stateListen = "0A"
			if len(f) > 9 && f[3] == stateListen && mine[f[9]] {
				out = append(out, table+" "+f[1])
			}
		}
	}
	return out, nil
}
