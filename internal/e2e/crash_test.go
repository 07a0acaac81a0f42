package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/store"
)

// pairedRE finds the decision of every session a Connection Server honoured (both tickets
// verified, halves paired), in the CS's log.
var pairedRE = regexp.MustCompile(`msg="relay: session paired".* decision_id=(dec_[0-9a-f]+)`)

// Crash test, issue point 6: connects run in a loop against the real CM; the CM is killed with
// SIGKILL mid-load and restarted on the same SQLite file. Every ticket the CS honoured, and
// every allow a Guest received, has a committed decision record that says allow.
func TestEveryHonouredTicketHasACommittedDecisionAfterTheCMIsKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, _, alice := startSmallStack(ctx, t, localstack.Options{Bin: sys.bin, Dir: filepath.Join(t.TempDir(), "crash")},
		"cs-crash-1", localstack.HostSpec{Name: "db-1", Tags: map[string]string{"env": "prod"}, Tenant: "acme"})

	load := newConnectLoad(ctx, c, alice)
	load.start(3)
	if !load.waitGranted(5, 2*time.Minute) {
		load.stop()
		t.Fatalf("fewer than 5 connections went through before the crash\n--- cm ---\n%s", c.LogOf("cm"))
	}
	c.KillCM()
	time.Sleep(time.Second) // the load keeps knocking at the dead CM
	granted := load.stop()
	if err := c.RestartCM(ctx, "cm-after-crash"); err != nil {
		t.Fatalf("restart the CM on the same store: %v", err)
	}

	st, err := store.Open(ctx, c.StoreDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	honoured := map[string]bool{}
	for _, m := range pairedRE.FindAllStringSubmatch(c.LogOf("cs-crash-1"), -1) {
		honoured[m[1]] = true
	}
	if len(honoured) < 5 {
		t.Fatalf("the CS honoured %d sessions, want at least 5\n%s", len(honoured), c.LogOf("cs-crash-1"))
	}
	for _, id := range granted {
		honoured[id] = true
	}
	for id := range honoured {
		d, err := st.GetDecision(ctx, id)
		if err != nil || !d.Allow || d.Subject != "alice@example.com" {
			t.Errorf("ticket of decision %s was honoured, but its record is %+v, %v", id, d, err)
		}
	}
	t.Logf("%d sessions honoured and granted before and around the crash; every one has its committed record", len(honoured))

	// The development identity provider kept its signing key: alice's sign-in from before the
	// crash still works, without signing in again.
	if out, err := c.Guest(ctx, alice, "exec", "-n", "db-1", "--", "echo", "still-signed-in").CombinedOutput(); err != nil || !strings.Contains(string(out), "still-signed-in") {
		t.Errorf("alice's cached sign-in after the CM restarted: %v\n%s", err, out)
	}
}

// startSmallStack starts a system of its own with one relay and one Host, and signs dave and
// alice (with MFA) in; it stops when the test ends.
func startSmallStack(ctx context.Context, t *testing.T, opts localstack.Options, relayID string, host localstack.HostSpec) (c *localstack.Stack, dave, alice localstack.User) {
	t.Helper()
	c, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if _, err := c.StartRelay(ctx, localstack.RelaySpec{ID: relayID, Region: "eu-north"}); err != nil {
		t.Fatal(err)
	}
	if dave, err = c.Login(ctx, "dave@example.com", "password", ""); err != nil {
		t.Fatal(err)
	}
	if alice, err = c.Login(ctx, "alice@example.com", "password", "123456"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRelays(ctx, dave, relayID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartHost(ctx, dave, host); err != nil {
		t.Fatal(err)
	}
	return c, dave, alice
}

// connectLoad runs 'portcullis exec db-1 -- true' as a user in a loop from several workers.
type connectLoad struct {
	ctx     context.Context
	cancel  context.CancelFunc
	c       *localstack.Stack
	user    localstack.User
	wg      sync.WaitGroup
	mu      sync.Mutex
	granted []string // decision ids of the connections that went through
}

func newConnectLoad(ctx context.Context, c *localstack.Stack, u localstack.User) *connectLoad {
	ctx, cancel := context.WithCancel(ctx)
	return &connectLoad{ctx: ctx, cancel: cancel, c: c, user: u}
}

func (l *connectLoad) start(workers int) {
	for range workers {
		l.wg.Go(func() {
			for l.ctx.Err() == nil {
				l.once()
			}
		})
	}
}

// once runs one connection and notes its decision when it went through.
func (l *connectLoad) once() {
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	cmd := l.c.Guest(ctx, l.user, "exec", "-v", "db-1", "--", "true")
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		time.Sleep(100 * time.Millisecond)
		return
	}
	if m := decisionRE.FindStringSubmatch(stderr.String()); err == nil && m != nil {
		l.mu.Lock()
		l.granted = append(l.granted, m[1])
		l.mu.Unlock()
	} else {
		time.Sleep(100 * time.Millisecond) // refused or failed: the CM may be down
	}
}

// waitGranted waits until n connections went through, or timeout.
func (l *connectLoad) waitGranted(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		got := len(l.granted)
		l.mu.Unlock()
		if got >= n {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// stop ends the load and returns the decisions of the connections that went through.
func (l *connectLoad) stop() []string {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted
}
