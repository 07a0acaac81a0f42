package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/rego"
)

// Policy-change measurement shape.
const (
	// policyChanges is how many times the section takes production away from ops (n).
	policyChanges = 20
	// opsOnProd and opsOffProd are the default policy's ops grant, and the same without
	// production: the bench Host (env prod) is denied to alice under the second.
	opsOnProd  = `"hosts": [{"env": "prod"}, {"env": "staging"}],`
	opsOffProd = `"hosts": [{"env": "staging"}],`
	// heldCommand keeps a session open until it is ended.
	heldCommand = "echo started; exec sleep 600"
	// policyChangeWait bounds each wait of the section (a session to start, a policy to roll
	// out, a session to end).
	policyChangeWait = 30 * time.Second
)

// The log lines the section times the pieces of a policy change by.
const (
	logRolledOut = "policy rolled out"
	logCMEnded   = "session ended by the CM"
	logHostEnded = "ending session on the CM's order"
	logCSEnded   = "relay: session ended"
)

// measurePolicyChange times a policy change reaching a live session: a CM whose policy is a
// directory it watches (its poll set beyond the run, so only file notifications count), a CS and
// the bench Host; alice holds a session on the Host, the policy file is rewritten to deny it,
// and the section times, from the write: the CM's roll-out of the new policy (the file watch's
// debounce, compile and the policy's tests), its ending of the session (re-decision, record,
// orders posted to the store's mail), the Host's order, the CS's end of the session and the
// Guest's exit. Then the policy is put back, and again, n times.
func (b *bench) measurePolicyChange(ctx context.Context) error {
	dir := filepath.Join(b.dir, "policychange")
	polDir := filepath.Join(dir, "policy")
	if err := writeOpsPolicy(polDir, true); err != nil {
		return err
	}
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(dir, "stack"), withHost: true,
		cmArgs: []string{"--policy-dir", polDir, "--policy-poll", "24h"}})
	if err != nil {
		return err
	}
	defer st.stop()
	n := policyChanges
	if b.cfg.smoke {
		n = 2
	}
	var samples changeSamples
	for i := range n {
		if err := b.policyChangeOnce(ctx, st, polDir, i, &samples); err != nil {
			return fmt.Errorf("policy change %d: %w", i+1, err)
		}
	}
	samples.report(b.r)
	return nil
}

// changeSamples are the times from each policy write to each piece of the session's end.
type changeSamples struct {
	rolledOut, cmEnded, host, cs, guest, ended []time.Duration
}

// policyChangeOnce opens a session, denies it by a policy write, times its end and puts the
// policy back. Before change i the CM has rolled out 1+2i policies and ended i sessions.
func (b *bench) policyChangeOnce(ctx context.Context, st *stack, polDir string, i int, s *changeSamples) error {
	g, err := startHeldSession(ctx, st)
	if err != nil {
		return err
	}
	defer g.stop()
	written := time.Now()
	if err := writeOpsPolicy(polDir, false); err != nil {
		return err
	}
	logs := []struct {
		proc, line string
		into       *[]time.Duration
	}{
		{"cm", logRolledOut, &s.rolledOut}, {"cm", logCMEnded, &s.cmEnded},
		{hostName, logHostEnded, &s.host}, {relayID, logCSEnded, &s.cs},
	}
	want := map[string]int{logRolledOut: 2 + 2*i, logCMEnded: i + 1, logHostEnded: i + 1, logCSEnded: i + 1}
	var last time.Time
	for _, l := range logs {
		at, err := waitLogLine(ctx, st, l.proc, l.line, want[l.line])
		if err != nil {
			return err
		}
		*l.into = append(*l.into, at.Sub(written))
		if l.proc != "cm" && at.After(last) {
			last = at
		}
	}
	select {
	case <-g.done:
		s.guest = append(s.guest, g.exited.Sub(written))
	case <-time.After(policyChangeWait):
		return errors.New("the Guest did not exit after its session was ended")
	}
	s.ended = append(s.ended, last.Sub(written))
	if err := writeOpsPolicy(polDir, true); err != nil {
		return err
	}
	_, err = waitLogLine(ctx, st, "cm", logRolledOut, 3+2*i)
	return err
}

func (s *changeSamples) report(r *Report) {
	const sec = "policychange"
	for _, f := range []struct {
		name string
		d    []time.Duration
	}{
		{"rolled_out", s.rolledOut}, {"cm_ended", s.cmEnded}, {"host_told", s.host}, {"cs_ended", s.cs},
		{"guest_exited", s.guest}, {"ended", s.ended},
	} {
		r.add(sec, f.name+"_p50", ms(percentile(f.d, 50)), "ms")
		r.add(sec, f.name+"_p95", ms(percentile(f.d, 95)), "ms")
	}
	r.add(sec, "changes", float64(len(s.ended)), "n")
	r.target("policy change to session ended (Host and CS) p95", ms(percentile(s.ended, 95)), AtMost, 2000, "ms")
}

// heldSession is a Guest command holding a session open on the bench Host.
type heldSession struct {
	cmd    *exec.Cmd
	out    syncbuf.Buffer
	done   chan struct{}
	exited time.Time
}

// startHeldSession runs heldCommand on the bench Host as alice and waits until it runs.
func startHeldSession(ctx context.Context, st *stack) (*heldSession, error) {
	g := &heldSession{cmd: st.c.Guest(context.WithoutCancel(ctx), st.user, "exec", hostName, "--", heldCommand), done: make(chan struct{})}
	g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the Guest: %w", err)
	}
	go func() {
		_ = g.cmd.Wait() // the session is ended on purpose: its exit status says nothing
		g.exited = time.Now()
		close(g.done)
	}()
	deadline := time.Now().Add(policyChangeWait)
	for !strings.Contains(g.out.String(), "started") {
		select {
		case <-g.done:
			return nil, fmt.Errorf("the Guest exited before its session started: %s", g.out.String())
		case <-ctx.Done():
			g.stop()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, errors.New("the held session did not start")
		}
	}
	return g, nil
}

func (g *heldSession) stop() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

// writeOpsPolicy writes the default policy into dir, with production granted to ops or not,
// each file written beside its final name and renamed over it, as a deployment does. The
// default policy's authz_test.rego (which expects the grant) is left out; the other modules'
// tests remain, so the CM still checks a tested policy.
func writeOpsPolicy(dir string, prod bool) error {
	if prod {
		return writePolicy(dir, policyEdit{opsOnProd, opsOnProd})
	}
	return writePolicy(dir, policyEdit{opsOnProd, opsOffProd})
}

// policyEdit replaces old by replacement in the default policy's authz.rego.
type policyEdit struct{ old, replacement string }

// writePolicy writes the default policy, without authz_test.rego (which describes the default
// authz.rego), into dir with edits made to authz.rego, each of which must find its text. A file
// that would not change is not written (no file event).
func writePolicy(dir string, edits ...policyEdit) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("policy dir: %w", err)
	}
	return fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "authz_test.rego" {
			return err
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		if p == "authz.rego" {
			for _, e := range edits {
				if !strings.Contains(string(b), e.old) {
					return fmt.Errorf("the default policy no longer says %s", e.old)
				}
				b = []byte(strings.Replace(string(b), e.old, e.replacement, 1))
			}
		}
		file := filepath.Join(dir, p)
		if old, err := os.ReadFile(file); err == nil && string(old) == string(b) {
			return nil // unchanged: no event
		}
		if err := os.WriteFile(file+".new", b, 0o600); err != nil {
			return err
		}
		return os.Rename(file+".new", file)
	})
}

// waitLogLine waits until the process's log has n lines containing line and returns the time
// the n-th was logged (its time= field).
func waitLogLine(ctx context.Context, st *stack, proc, line string, n int) (time.Time, error) {
	deadline := time.Now().Add(policyChangeWait)
	for {
		if at, ok, err := nthLogTime(st.c.LogOf(proc), line, n); ok || err != nil {
			return at, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s did not log %q %d times within %v", proc, line, n, policyChangeWait)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// nthLogTime finds the n-th line of log (slog's text format) that contains line, and parses its
// time= field; ok is false while there are fewer.
func nthLogTime(log, line string, n int) (time.Time, bool, error) {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	seen := 0
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, line) {
			continue
		}
		if seen++; seen < n {
			continue
		}
		field, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, field)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("log line %q: time: %w", l, err)
		}
		return at, true, nil
	}
	return time.Time{}, false, nil
}
