package gateway_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// opsOnProdAndStaging and opsOnStagingOnly are the default policy's ops grant before and after
// a security engineer takes production away from ops.
const (
	opsOnProdAndStaging = `"hosts": [{"env": "prod"}, {"env": "staging"}],`
	opsOnStagingOnly    = `"hosts": [{"env": "staging"}],`
)

// An edit of a policy file ends the live sessions the new policy denies, at the Host and the
// CS, with the Manager's poll set beyond the test's length: only the file watch can notice it.
func TestAnEditedPolicyFileEndsTheSessionsItNowDeniesWithoutAPoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "authz_test.rego" {
			return err // the default policy's own tests expect ops on production
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := policy.NewManager(t.Context(), policy.ManagerConfig{Dir: dir, PollInterval: time.Hour, AllowUntested: true})
	if err != nil {
		t.Fatal(err)
	}
	w := startWorld(t, withPolicy(m))
	alice := w.login(t, "alice@example.com", "123456")
	relay := w.relayClient(t, "cs-eu-1")
	prod := w.liveSession(t, alice, "db-1")
	staging := w.liveSession(t, alice, "web-1")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	go func() { _ = w.gateway.Run(ctx) }()
	waitFor(t, time.Minute, "the policy directory to be watched", func() bool { return m.Status().Watching })

	authz := filepath.Join(dir, "authz.rego")
	b, err := os.ReadFile(authz)
	if err != nil || !strings.Contains(string(b), opsOnProdAndStaging) {
		t.Fatalf("authz.rego: %v; want the ops grant %s", err, opsOnProdAndStaging)
	}
	if err := os.WriteFile(authz, []byte(strings.Replace(string(b), opsOnProdAndStaging, opsOnStagingOnly, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the production session to end", func() bool {
		rec, _ := w.store.GetSession(context.Background(), prod.SessionID)
		return rec.EndedAt != nil
	})
	if rec, _ := w.store.GetSession(context.Background(), prod.SessionID); !strings.HasPrefix(rec.EndReason, api.ReasonPrefixRevoked) {
		t.Errorf("production session record = %+v, want ended by the policy change", rec)
	}
	if kills := w.hostRequests(t, "db-1"); len(kills) != 1 || !kills[0].Kill || kills[0].SessionID != prod.SessionID {
		t.Errorf("db-1 was told %+v, want to end %s", kills, prod.SessionID)
	}
	if cmds := w.relayCommands(t, relay, "cs-eu-1"); len(cmds) != 1 || cmds[0].SessionID != prod.SessionID {
		t.Errorf("the relay was told %+v, want to end %s", cmds, prod.SessionID)
	}
	if rec, _ := w.store.GetSession(context.Background(), staging.SessionID); rec.EndedAt != nil {
		t.Errorf("the staging session, still allowed, ended: %+v", rec)
	}
	if st := m.Status(); st.Reloads != 1 || st.LastError != "" {
		t.Errorf("policy status %+v, want one reload", st)
	}
}
