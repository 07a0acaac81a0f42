package gateway_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// rawDB opens the store's database directly, as an operator with database access would.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, name = "sqlite", path
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// export fetches an export bundle of the whole log as u.
func (c *cm) export(t *testing.T, u user) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.url+api.PathLogExport, nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	res, err := u.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d %s", res.StatusCode, b)
	}
	return b
}

func TestTamperingWithTheDecisionTableIsNamedByVerification(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "cm.db") },
		"postgres": func(t *testing.T) string { runsInFullInTheUnitPass(t, "the PostgreSQL half"); return pgtest.Start(t) },
	} {
		t.Run(name, func(t *testing.T) { testTampering(t, dsn(t)) })
	}
}

func testTampering(t *testing.T, dsn string) {
	ctx := context.Background()
	w := startWorld(t, withStore(dsn))
	alice, mallory, carol := w.login(t, "alice@example.com", "123456"), w.login(t, "mallory@example.com", ""), w.login(t, "carol@example.com", "")
	for range 3 {
		if _, _, err := w.connect(alice, "db-1", "exec"); err != nil {
			t.Fatal(err)
		}
		_, _, _ = w.connect(mallory, "db-1", "exec") // denied: recorded all the same
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.gateway.Run(runCtx) }()
	var logged []store.Decision
	waitFor(t, 20*time.Second, "the sequencer to log every record", func() bool {
		ds, _, err := w.store.ListDecisions(ctx, store.DecisionFilter{Limit: store.MaxDecisionLimit})
		if err != nil || len(ds) < 6 {
			return false
		}
		for _, d := range ds {
			if d.LogIndex == nil {
				return false
			}
		}
		logged = ds
		return true
	})
	vkey, err := translog.LoadVerifier(filepath.Join(w.certDir, certs.LogPubFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{api.PathLogCheckpoint, api.PathLogKey, api.PathLogExport, api.PathLogInclusion + "?id=" + logged[0].ID} {
		if status, _ := statusOf(w.call(mallory, http.MethodGet, path, nil, nil)); status != http.StatusForbidden {
			t.Errorf("mallory reads %s: %d, want 403 (the policy decides reads of the log)", path, status)
		}
	}
	saved := w.checkpoint(t, carol)
	waitFor(t, 20*time.Second, "a newer checkpoint (the checkpoint read is itself recorded)", func() bool {
		return w.checkpoint(t, carol).Size > saved.Size
	})
	checkProofs(t, w.cm, carol, vkey, logged[0].ID, saved)
	stop()
	<-done
	rep, err := translog.Verify(bytes.NewReader(w.export(t, carol)), vkey, []string{saved.Note})
	if err != nil || !rep.OK() || rep.Records < len(logged) {
		t.Fatalf("the untouched log: %+v, %v; want at least %d records verified", rep, err, len(logged))
	}

	byIndex := map[uint64]store.Decision{}
	for _, d := range logged {
		byIndex[*d.LogIndex] = d
	}
	altered, deleted, swapA, swapB := byIndex[1], byIndex[2], byIndex[3], byIndex[4]
	db := rawDB(t, dsn)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE decisions SET allow = NOT allow WHERE id = $1", []any{altered.ID}},
		{"DELETE FROM decisions WHERE id = $1", []any{deleted.ID}},
		{"INSERT INTO decisions (id, decided_at, path, subject, host_id, host_name, allow, reasons, input, result, revision, eval_ns, labels) " +
			"SELECT 'dec_forged', decided_at, path, 'mallory@example.com', host_id, host_name, allow, reasons, input, result, revision, eval_ns, labels FROM decisions WHERE id = $1", []any{byIndex[0].ID}},
		{"UPDATE log_leaves SET decision_id = 'swapping' WHERE idx = 3 AND decision_id = $1", []any{swapA.ID}},
		{"UPDATE log_leaves SET decision_id = $1 WHERE idx = 4", []any{swapA.ID}},
		{"UPDATE log_leaves SET decision_id = $1 WHERE idx = 3", []any{swapB.ID}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	rep, err = translog.Verify(bytes.NewReader(w.export(t, carol)), vkey, []string{saved.Note})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Kind+" "+f.ID)
	}
	slices.Sort(got)
	want := []string{"altered " + altered.ID, "deleted " + deleted.ID, "inserted dec_forged", "reordered " + swapA.ID, "reordered " + swapB.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("findings %v\nwant %v\n(%+v)", got, want, rep.Findings)
	}
}

// checkpoint fetches the latest checkpoint as u.
func (c *cm) checkpoint(t *testing.T, u user) api.LogCheckpoint {
	t.Helper()
	var cp api.LogCheckpoint
	if err := c.call(u, http.MethodGet, api.PathLogCheckpoint, nil, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkProofs checks the API's inclusion proof of record id in the latest checkpoint and its
// consistency proof from the older checkpoint saved.
func checkProofs(t *testing.T, c *cm, u user, v *translog.Verifier, id string, saved api.LogCheckpoint) {
	t.Helper()
	var incl api.InclusionProof
	if err := c.call(u, http.MethodGet, api.PathLogInclusion+"?id="+id, nil, &incl); err != nil {
		t.Fatal(err)
	}
	latest, err := v.OpenCheckpoint(incl.Checkpoint)
	if err != nil {
		t.Fatalf("the proof's checkpoint: %v", err)
	}
	if err := translog.VerifyInclusion(incl.Index, incl.Size, incl.LeafHash, incl.Proof, latest.Root); err != nil {
		t.Fatalf("inclusion proof of %s: %v", id, err)
	}
	old, err := v.OpenCheckpoint(saved.Note)
	if err != nil {
		t.Fatal(err)
	}
	var cons api.ConsistencyProof
	q := fmt.Sprintf("?from=%d&to=%d", old.Size, latest.Size)
	if err := c.call(u, http.MethodGet, api.PathLogConsistency+q, nil, &cons); err != nil {
		t.Fatal(err)
	}
	if err := translog.VerifyConsistency(old.Size, latest.Size, cons.Proof, old.Root, latest.Root); err != nil {
		t.Fatalf("consistency proof %d → %d: %v", old.Size, latest.Size, err)
	}
	if err := translog.VerifyConsistency(old.Size, latest.Size, cons.Proof, latest.Root, latest.Root); err == nil && old.Size != latest.Size {
		t.Fatal("a consistency proof verified against the wrong root")
	}
}

// TestTheInclusionProofSaysWhetherTheLogKeySignedTheRecord: a record the CM committed is proved
// signed by the log key. A record that someone with write access to the database inserts
// behind the CM's back, carrying the signature of another record (the log key's, but not over
// this one), is logged by the sequencer as unsigned, and its inclusion proof says so and still
// checks. Every proof carries the leaf the tree holds: after the committed record is altered in
// the database, its proof still checks, for the leaf logged, and no longer says signed.
func TestTheInclusionProofSaysWhetherTheLogKeySignedTheRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cm.db")
	w := startWorld(t, withStore(dsn))
	alice, carol := w.login(t, "alice@example.com", "123456"), w.login(t, "carol@example.com", "")
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	committed := resp.DecisionID
	if d, err := w.store.GetDecision(ctx, committed); err != nil || len(d.LogSig) == 0 {
		t.Fatalf("the committed record %+v (%v) has no signature to copy", d, err)
	}

	// mallory copies alice's allow in her own name, with alice's signature and record MAC, and
	// queues it for the sequencer as a commit would.
	const forged = "dec_behind_the_cms_back"
	db := rawDB(t, dsn)
	for _, q := range []string{
		"INSERT INTO decisions (id, decided_at, path, subject, host_id, host_name, allow, reasons, input, result, revision, eval_ns, labels," +
			" erased, masked, bundles, requested_by, req_id, log_sig, log_mac) SELECT $1, decided_at, path, 'mallory@example.com', host_id," +
			" host_name, allow, reasons, input, result, revision, eval_ns, labels, erased, masked, bundles, requested_by, req_id, log_sig, log_mac" +
			" FROM decisions WHERE id = $2",
		"INSERT INTO log_queue (decided_at, decision_id) SELECT decided_at, $1 FROM decisions WHERE id = $2",
	} {
		if _, err := db.ExecContext(ctx, q, forged, committed); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.gateway.Run(runCtx) }()
	waitFor(t, 20*time.Second, "the sequencer to log both records", func() bool {
		for _, id := range []string{committed, forged} {
			if d, err := w.store.GetDecision(ctx, id); err != nil || d.LogIndex == nil {
				return false
			}
		}
		return true
	})
	stop()
	<-done
	vkey, err := translog.LoadVerifier(filepath.Join(w.certDir, certs.LogPubFile))
	if err != nil {
		t.Fatal(err)
	}

	// proved fetches the inclusion proof of record id, checks it for the leaf it carries against
	// its checkpoint, and checks that leaf is the one the tree holds for the record.
	proved := func(t *testing.T, id string) api.InclusionProof {
		t.Helper()
		var incl api.InclusionProof
		if err := w.call(carol, http.MethodGet, api.PathLogInclusion+"?id="+id, nil, &incl); err != nil {
			t.Fatal(err)
		}
		cp, err := vkey.OpenCheckpoint(incl.Checkpoint)
		if err != nil {
			t.Fatalf("the proof's checkpoint: %v", err)
		}
		if err := translog.VerifyInclusion(incl.Index, incl.Size, incl.LeafHash, incl.Proof, cp.Root); err != nil {
			t.Errorf("the inclusion proof of %s does not check: %v", id, err)
		}
		var stored []byte
		if err := db.QueryRowContext(ctx, "SELECT leaf_hash FROM log_leaves WHERE decision_id = $1", id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(incl.LeafHash, stored) {
			t.Errorf("the proof of %s carries leaf %x, the tree holds %x", id, incl.LeafHash, stored)
		}
		return incl
	}
	for _, tc := range []struct {
		id     string
		signed bool
	}{{committed, true}, {forged, false}} {
		incl := proved(t, tc.id)
		d, err := w.store.GetDecision(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		canonical, leaf, err := translog.RecordLeaf(d)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.signed {
			leaf = translog.UnsignedLeafHash(canonical)
		}
		if incl.Signed != tc.signed || !bytes.Equal(incl.LeafHash, leaf) {
			t.Errorf("the proof of %s: signed %v, leaf %x; want signed %v, the leaf %x computed from the record", tc.id, incl.Signed, incl.LeafHash, tc.signed, leaf)
		}
	}

	if _, err := db.ExecContext(ctx, "UPDATE decisions SET allow = NOT allow WHERE id = $1", committed); err != nil {
		t.Fatal(err)
	}
	if incl := proved(t, committed); incl.Signed {
		t.Errorf("the proof of %s, altered after it was logged, says signed", committed)
	}
}
