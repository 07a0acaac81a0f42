package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/translog"
)

// A reviewer exports the decision log and verifies it offline with the log's public key; after
// an operator flips a record in the database, the same two commands name it.
func TestAReviewerVerifiesTheLogOfflineAndFindsATamperedRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "verify")
	c, _, alice := startSmallStack(ctx, t, localstack.Options{Bin: sys.bin, Dir: dir},
		"cs-verify-1", localstack.HostSpec{Name: "db-1", Tags: map[string]string{"env": "prod"}, Tenant: "acme"})
	carol, err := c.Login(ctx, "carol@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Guest(ctx, alice, "exec", "db-1", "--", "true").CombinedOutput()
	if err != nil {
		t.Fatalf("exec: %v\n%s", err, out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.ndjson")
	export := func() {
		t.Helper()
		waitUntil(t, "a checkpoint covering alice's connect", func() bool {
			out, err := c.Guest(ctx, carol, "logs", "export", "-o", bundle).CombinedOutput()
			if err != nil {
				t.Logf("export: %v\n%s", err, out)
				return false
			}
			return loggedConnect(t, bundle)
		})
	}
	verify := func() (string, int) {
		cmd := exec.CommandContext(ctx, sys.bin, "logs", "verify", "--key", filepath.Join(c.CertsDir(), certs.LogPubFile), bundle)
		out, err := cmd.CombinedOutput()
		if err != nil && cmd.ProcessState == nil {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	export()
	if out, code := verify(); code != 0 {
		t.Fatalf("verify the untouched log: exit %d\n%s", code, out)
	}

	// The CM writes meanwhile: wait for its lock as the CM's own connections do.
	db, err := sql.Open("sqlite", strings.TrimPrefix(c.StoreDSN(), "sqlite:")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRowContext(ctx, "SELECT id FROM decisions WHERE subject = 'alice@example.com' AND id IN (SELECT decision_id FROM log_leaves) LIMIT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE decisions SET subject = 'mallory@example.com' WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Guest(ctx, carol, "logs", "export", "-o", bundle).CombinedOutput(); err != nil {
		t.Fatalf("export after the update: %v\n%s", err, out)
	}
	report, code := verify()
	if code != 65 || !strings.Contains(report, "altered") || !strings.Contains(report, id) {
		t.Fatalf("verify after %s was altered: exit %d\n%s\nwant exit 65 naming it altered", id, code, report)
	}
	t.Logf("verify named the altered record:\n%s", report)
}

// loggedConnect reports whether the bundle holds alice's allowed connect, in the log.
func loggedConnect(t *testing.T, bundle string) bool {
	t.Helper()
	f, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l translog.BundleLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bundle line: %v", err)
		}
		if l.Record != nil && l.Record.Index != nil && l.Record.Decision.Subject == "alice@example.com" && l.Record.Decision.Allow {
			return true
		}
	}
	return false
}
