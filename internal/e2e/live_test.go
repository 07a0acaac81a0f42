//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/rego"
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

func TestACMCrashDoesNotEndEstablishedSessionsAndTheSystemCarriesOnAfterItsRestart(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	g := ls.startSession(t)
	ls.c.KillCM()
	g.stillTicking(t, "with the CM dead")
	time.Sleep(2 * time.Second) // the Host and the CS retry meanwhile, with backoff
	g.stillTicking(t, "with the CM down for 2 s")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ls.c.RestartCM(ctx, "cm-restarted"); err != nil {
		t.Fatal(err)
	}
	g.stillTicking(t, "after the CM restarted")
	ls.login(t) // the development IdP is the CM's: its sign-ins start over with it
	if err := ls.c.WaitHost(ctx, ls.dave, "web-1"); err != nil {
		t.Fatal(err)
	}
	if rec := ls.session(t, g.id); !rec.Live {
		t.Fatalf("the restarted CM records the surviving session as ended: %+v", rec)
	}
	out, err := ls.c.Guest(ctx, ls.alice, "exec", "web-1", "--", "echo after-restart").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "after-restart") {
		t.Fatalf("a new session after the restart: %v\n%s", err, out)
	}
	// The CS and the Host are back on the CM's order channels: a lock still reaches both.
	ordered := time.Now()
	if err := ls.call(ls.dave, http.MethodPost, api.PathLocks, api.LockRequest{Session: g.id, Reason: "after restart"}, nil); err != nil {
		t.Fatal(err)
	}
	ls.endedAtBothEnds(t, g, "cs-eu-1", ordered)
}

func TestACSThatDiesEndsOnlyItsOwnSessionsAndTheNextConnectGetsAnotherRelay(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1", "cs-us-1")
	a := ls.startSession(t)
	dead := ls.session(t, a.id).RelayID
	// Freeze a's relay until the CM stops assigning it, so that b goes through the other one;
	// then let it report again.
	if err := ls.relays[dead].Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	alive := "cs-eu-1"
	if dead == alive {
		alive = "cs-us-1"
	}
	// On a loaded machine the other relay may miss its reports too: wait until it is listed.
	waitUntil(t, "the CM to stop assigning the frozen "+dead+" and to assign "+alive, func() bool {
		return !ls.relayListed(dead) && ls.relayListed(alive)
	})
	b := ls.startSession(t)
	if err := ls.relays[dead].Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, dead+" to report again", func() bool { return ls.relayListed(dead) })
	if other := ls.session(t, b.id).RelayID; other == dead {
		t.Fatalf("both sessions went through %s", dead)
	}

	ls.relays[dead].Kill()
	killed := time.Now()
	waitUntil(t, "the session through the dead relay to end", a.exited)
	b.stillTicking(t, "after the other relay died")
	gone := waitUntil(t, "the CM to stop assigning "+dead, func() bool { return !ls.relayListed(dead) })
	t.Logf("the CM stopped assigning %s %v after it died (seen by polling for %v)", dead, time.Since(killed).Round(time.Millisecond), gone.Round(time.Millisecond))
	waitUntil(t, "the dead relay's session to be recorded as ended", func() bool { return !ls.session(t, a.id).Live })
	if rec := ls.session(t, a.id); rec.EndReason != "relay lost" {
		t.Errorf("session through the dead relay = %+v, want ended with reason \"relay lost\"", rec)
	}
	waitUntil(t, "the CM to assign "+alive, func() bool { return ls.relayListed(alive) })
	c := ls.startSession(t)
	if rec := ls.session(t, c.id); rec.RelayID == dead {
		t.Fatalf("the next connect was given the dead relay %s", dead)
	}
	if rec := ls.session(t, b.id); !rec.Live {
		t.Errorf("the session through the surviving relay is recorded as ended: %+v", rec)
	}
}

// shortSessionPolicy writes the default policy, without the tests of authz.rego, with ops
// sessions capped at seconds.
func shortSessionPolicy(t *testing.T, seconds string) string {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, `"max_duration_seconds": 28800,`, `"max_duration_seconds": `+seconds+`,`)
	return dir
}

// writePolicy writes the default policy, without authz_test.rego (it describes the default
// authz.rego), into dir with one change to authz.rego: old replaced (the test fails when
// authz.rego no longer holds it). The tests of api.rego and mask.rego stay: the CM refuses a
// policy without tests.
func writePolicy(t *testing.T, dir, old, replacement string) {
	t.Helper()
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "authz_test.rego" {
			return err // the default policy's own tests expect its 8 h, which the CM would check
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		if p == "authz.rego" {
			if !strings.Contains(string(b), old) {
				return fmt.Errorf("the default policy no longer holds %q", old)
			}
			b = []byte(strings.Replace(string(b), old, replacement, 1))
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAPolicyChangeEndsTheLiveSessionItNowDenies(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, "", "")
	// A poll beyond the test's length: only the file watch can notice the change.
	ls := startLive(t, []string{"--policy-dir", dir, "--policy-poll", "1h"}, "cs-eu-1")
	g := ls.startSession(t)
	// A security engineer takes staging away from ops: alice's session on web-1 is now denied.
	writePolicy(t, dir, `"hosts": [{"env": "prod"}, {"env": "staging"}],`, `"hosts": [{"env": "prod"}],`)
	took := waitUntil(t, "the now-denied session to end", g.exited)
	t.Logf("the session ended %v after the policy file changed (the CM watches it; target 2 s p95, measured by make bench's policychange section)", took.Round(time.Millisecond))
	if !strings.Contains(g.stderr.String(), "the session was ended: policy now denies") {
		t.Errorf("the Guest is not told why; stderr:\n%s", g.stderr.String())
	}
	if rec := ls.session(t, g.id); rec.Live || !strings.HasPrefix(rec.EndReason, api.ReasonPrefixRevoked) {
		t.Errorf("session record = %+v, want ended by the policy change", rec)
	}
}

func TestASessionEndsAtItsMaximumDurationAfterWarningTheGuest(t *testing.T) {
	ls := startLive(t, []string{"--policy-dir", shortSessionPolicy(t, "6")}, "cs-eu-1")
	g := ls.startSession(t)
	waitUntil(t, "the session to reach its maximum duration", g.exited)
	if !strings.Contains(g.stderr.String(), "maximum duration and ends in") || !strings.Contains(g.stderr.String(), "the session was ended: maximum duration reached") {
		t.Errorf("the Guest was not warned before the end and told why it ended; stderr:\n%s", g.stderr.String())
	}
	// The CS reports the connection closed; the Host's report then says why, and the channels.
	waitUntil(t, "the record to say the maximum duration ended the session", func() bool {
		rec := ls.session(t, g.id)
		return rec.EndReason == api.ReasonMaxDuration && rec.ChannelsOpened == 1
	})
	rec := ls.session(t, g.id)
	if d := rec.EndedAt.Sub(rec.StartedAt); d < 5*time.Second {
		t.Errorf("the session ended after %v, before its 6 s", d)
	}
	if !logHas(ls.c.LogOf("cs-eu-1"), "relay: session ended", "reason="+api.ReasonMaxDuration) && !logHas(ls.c.LogOf("web-1"), g.id, "reason="+api.ReasonMaxDuration) {
		t.Errorf("neither the CS nor the Host logs the maximum duration as the end")
	}
}
