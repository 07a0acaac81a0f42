//go:build unix

package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/rego"
)

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
