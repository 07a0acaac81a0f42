//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
)

// ticker is the remote command of a long session: it says it started, then ticks.
const ticker = "echo started; while :; do echo tick; sleep 0.2; done"

// liveSystem is a system of its own for stories that lock, kill or restart its parts.
type liveSystem struct {
	c           *localstack.Stack
	alice, dave localstack.User
	relays      map[string]*localstack.Proc
	host        *localstack.Proc
	hostName    string
}

// startLive starts a CM with opts, the named relays and the Host web-1, and signs alice and
// dave in.
func startLive(t *testing.T, cmArgs []string, relayIDs ...string) *liveSystem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localstack.Start(ctx, localstack.Options{Bin: sys.bin, Dir: t.TempDir(), CMArgs: cmArgs})
	if err != nil {
		t.Fatal(err)
	}
	ls := &liveSystem{c: c, relays: map[string]*localstack.Proc{}, hostName: "web-1"}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range append([]string{"cm", "web-1"}, relayIDs...) {
				t.Logf("--- %s ---\n%s", n, c.LogOf(n))
			}
		}
		c.Stop()
	})
	for i, id := range relayIDs {
		p, err := c.StartRelay(ctx, localstack.RelaySpec{ID: id, Region: []string{"eu-north", "us-east"}[i%2]})
		if err != nil {
			t.Fatal(err)
		}
		ls.relays[id] = p
	}
	ls.login(t)
	if err := c.WaitRelays(ctx, ls.dave, relayIDs...); err != nil {
		t.Fatal(err)
	}
	ls.host, err = c.StartHost(ctx, ls.dave, localstack.HostSpec{Name: "web-1", Tags: map[string]string{"env": "staging", "team": "web"}, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// login signs alice (with MFA) and dave in.
func (ls *liveSystem) login(t *testing.T) {
	t.Helper()
	var err error
	if ls.alice, err = ls.c.Login(context.Background(), "alice@example.com", "password", "123456"); err != nil {
		t.Fatal(err)
	}
	if ls.dave, err = ls.c.Login(context.Background(), "dave@example.com", "password", ""); err != nil {
		t.Fatal(err)
	}
}

// guestRun is a Guest command running in the background.
type guestRun struct {
	cmd            *exec.Cmd
	stdout, stderr syncbuf.Buffer
	done           chan struct{}
	id             string // the session id, from the CM's records
}

// startSession runs the ticker on web-1 as alice and waits until it runs and the CM records it.
func (ls *liveSystem) startSession(t *testing.T) *guestRun {
	t.Helper()
	before := ls.liveSessions(t)
	g := &guestRun{cmd: ls.c.Guest(context.Background(), ls.alice, "exec", "web-1", "--", ticker), done: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = &g.stdout, &g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = g.cmd.Wait() // the exit status is the stories' to judge through done and the output
		close(g.done)
	}()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.done
	})
	waitUntil(t, "the remote command to start", func() bool { return strings.Contains(g.stdout.String(), "started") || g.exited() })
	if g.exited() {
		t.Fatalf("the session ended at once; stderr:\n%s", g.stderr.String())
	}
	for _, s := range ls.liveSessions(t) {
		if !containsSession(before, s.ID) {
			g.id = s.ID
		}
	}
	if g.id == "" {
		t.Fatal("the CM has no record of the new live session")
	}
	return g
}

func containsSession(ss []api.Session, id string) bool {
	for _, s := range ss {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (g *guestRun) exited() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// ticks counts the ticks the session delivered so far.
func (g *guestRun) ticks() int { return strings.Count(g.stdout.String(), "tick") }

// stillTicking checks that the session keeps delivering output.
func (g *guestRun) stillTicking(t *testing.T, when string) {
	t.Helper()
	n := g.ticks()
	waitUntil(t, "more ticks "+when, func() bool { return g.ticks() > n || g.exited() })
	if g.exited() {
		t.Fatalf("the session ended %s; stderr:\n%s", when, g.stderr.String())
	}
}

// call sends an API call to the CM as u.
func (ls *liveSystem) call(u localstack.User, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), liveDeadline)
	defer cancel()
	return api.Call(ctx, u.Client, method, ls.c.CMURL+path, u.IDToken, in, out)
}

func (ls *liveSystem) liveSessions(t *testing.T) []api.Session {
	t.Helper()
	var ss []api.Session
	if err := ls.call(ls.dave, http.MethodGet, api.PathSessions+"?live=true", nil, &ss); err != nil {
		t.Fatalf("list sessions: %v", err)
	}
	return ss
}

func (ls *liveSystem) session(t *testing.T, id string) api.Session {
	t.Helper()
	var s api.Session
	if err := ls.call(ls.dave, http.MethodGet, api.PathSessions+"/"+id, nil, &s); err != nil {
		t.Fatalf("get session %s: %v", id, err)
	}
	return s
}

// endedAtBothEnds waits until the Host logs that it ended the session on the CM's order, the
// CS logs the session's end (on its own order, or first because the Host hung up), and the
// Guest's command exits; it logs how long each took.
func (ls *liveSystem) endedAtBothEnds(t *testing.T, g *guestRun, relayID string, since time.Time) {
	t.Helper()
	cs := waitUntil(t, "the CS to end "+g.id, func() bool {
		return logHas(ls.c.LogOf(relayID), "relay: session ended", g.id)
	})
	host := waitUntil(t, "the Host to end "+g.id, func() bool {
		return logHas(ls.c.LogOf(ls.hostName), "ending session on the CM's order", g.id)
	})
	waitUntil(t, "the Guest's command to exit", g.exited)
	t.Logf("session %s ended: CS within %v, Host within %v, Guest exited %v after the order (target 2 s)",
		g.id, cs.Round(time.Millisecond), host.Round(time.Millisecond), time.Since(since).Round(time.Millisecond))
}

// logHas reports whether one line of log holds every part.
func logHas(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

var lockIDRE = regexp.MustCompile(`^(lk_[0-9a-f]+): `)

// cli runs a portcullis command as u and returns its combined output.
func (ls *liveSystem) cli(t *testing.T, u localstack.User, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveDeadline)
	defer cancel()
	out, err := ls.c.Guest(ctx, u, args...).CombinedOutput()
	return string(out), err
}

func TestDaveLocksAUserAHostOrASessionAndTheLiveSessionEndsAtTheRelayAndTheHost(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	for _, c := range []struct {
		kind   string
		target func(sessionID string) []string
	}{
		{"user", func(string) []string { return []string{"--user", "alice@example.com"} }},
		{"host", func(string) []string { return []string{"--host", "web-1"} }},
		{"session", func(id string) []string { return []string{"--session", id} }},
	} {
		t.Run(c.kind, func(t *testing.T) {
			g := ls.startSession(t)
			ordered := time.Now()
			out, err := ls.cli(t, ls.dave, append([]string{"lock", "--reason", "incident 42"}, c.target(g.id)...)...)
			m := lockIDRE.FindStringSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("portcullis lock: %v\n%s", err, out)
			}
			unlocked := false
			t.Cleanup(func() {
				if !unlocked {
					_ = ls.call(ls.dave, http.MethodDelete, api.PathLocks+"/"+m[1], nil, nil) // the next story needs alice unlocked
				}
			})
			ls.endedAtBothEnds(t, g, "cs-eu-1", ordered)
			if !strings.Contains(g.stderr.String(), "the session was ended: locked: incident 42") {
				t.Errorf("the Guest is not told why the session ended; stderr:\n%s", g.stderr.String())
			}
			out, err = ls.cli(t, ls.dave, "sessions", "show", g.id)
			var rec api.Session
			if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec.Live || rec.EndReason != "locked: incident 42" {
				t.Errorf("portcullis sessions show: %v\n%s\nwant the session ended by the lock", err, out)
			}
			if c.kind != "session" {
				out, err := ls.cli(t, ls.alice, "exec", "web-1", "--", "true")
				if err == nil || !strings.Contains(out, "locked: incident 42") {
					t.Errorf("connect while locked: %v, output:\n%s", err, out)
				}
			}
			if out, err := ls.cli(t, ls.dave, "unlock", m[1]); err != nil || !strings.Contains(out, `"removed_by": "dave@example.com"`) {
				t.Fatalf("portcullis unlock: %v\n%s", err, out)
			}
			unlocked = true
			if out, err := ls.cli(t, ls.carol(t), "sessions", "ls", "--user", "alice@example.com"); err != nil || !strings.Contains(out, g.id) {
				t.Errorf("an auditor lists alice's sessions: %v\n%s", err, out)
			}
		})
	}
}

func TestTheRelayEndsALockedSessionEvenWhenTheHostDoesNotAnswer(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	g := ls.startSession(t)
	if err := ls.host.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ls.host.Cmd.Process.Signal(syscall.SIGCONT) }()
	ordered := time.Now()
	if err := ls.call(ls.dave, http.MethodPost, api.PathLocks, api.LockRequest{Session: g.id, Reason: "host frozen"}, nil); err != nil {
		t.Fatal(err)
	}
	cs := waitUntil(t, "the CS to end "+g.id+" on the CM's order", func() bool {
		return logHas(ls.c.LogOf("cs-eu-1"), "relay: session ended on request", g.id, "host frozen")
	})
	waitUntil(t, "the Guest's command to exit", g.exited)
	t.Logf("with the Host frozen, the CS ended the session %v after the lock was made (target 2 s; the CS gives the Host 0.5 s first); the Guest exited %v after the order",
		cs.Round(time.Millisecond), time.Since(ordered).Round(time.Millisecond))
}

// relayListed reports whether the CM lists the relay as one it assigns sessions to.
func (ls *liveSystem) relayListed(id string) bool {
	var relays []api.RelayInfo
	if ls.call(ls.dave, http.MethodGet, api.PathRelays, nil, &relays) != nil {
		return false
	}
	for _, r := range relays {
		if r.ID == id {
			return true
		}
	}
	return false
}

// carol signs the auditor in.
func (ls *liveSystem) carol(t *testing.T) localstack.User {
	t.Helper()
	u, err := ls.c.Login(context.Background(), "carol@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	return u
}
