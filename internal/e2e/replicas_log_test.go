//go:build unix

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// logVerifies: after the stories (several replicas deciding at once, one killed, the lease and
// so the sequencer moved), the decision log holds every record committed, each at one
// position, and an export verifies offline against the log key.
func (hs *haSystem) logVerifies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var committed uint64
	f := store.DecisionFilter{Limit: store.MaxDecisionLimit}
	for {
		page, next, err := hs.st.ListDecisions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		committed += uint64(len(page))
		if next == "" {
			break
		}
		f.After = next
	}
	start := time.Now()
	waitUntil(t, "the sequencer to log every record committed so far", func() bool {
		cp, err := hs.st.LatestCheckpoint(ctx)
		return err == nil && cp.Size >= committed
	})
	t.Logf("%d records committed by 3 replicas are in a signed checkpoint %v later", committed, time.Since(start).Round(time.Millisecond))
	bundle := filepath.Join(t.TempDir(), "bundle.ndjson")
	if out, err := hs.c.Guest(ctx, hs.dave, "logs", "export", "-o", bundle).CombinedOutput(); err != nil {
		t.Fatalf("logs export: %v\n%s", err, out)
	}
	v, err := translog.LoadVerifier(filepath.Join(hs.c.CertsDir(), certs.LogPubFile))
	if err != nil {
		t.Fatal(err)
	}
	bf, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	rep, err := translog.Verify(bf, v, nil)
	if err != nil || !rep.OK() || uint64(rep.Records) < committed {
		t.Fatalf("the replicas' log: %+v, %v; want at least %d records verified and no findings", rep, err, committed)
	}
}
