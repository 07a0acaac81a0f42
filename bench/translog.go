package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// Targets of the log section (issue 14).
const (
	// verifyTarget bounds `logs verify` of logRecords records.
	verifyTarget = 30.0 // s
	// sequencerShareTarget bounds the sequencer's CPU per record as a share of the CM's CPU per
	// connect.
	sequencerShareTarget = 5.0 // %
	// sequencedRecords is how many records the sequencer's cost is measured on by default.
	sequencedRecords = 20000
)

// measureLog measures offline verification of a bundle of b.cfg.logRecords records, and the
// sequencer's cost per record beside a connect's, on a CM on SQLite.
func (b *bench) measureLog(ctx context.Context) error {
	if err := b.measureVerify(ctx); err != nil {
		return err
	}
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(b.dir, "log"), profile: b.cfg.profile != ""})
	if err != nil {
		return err
	}
	defer st.stop()
	return b.measureSequencer(ctx, st)
}

// measureVerify writes a bundle of signed, logged records and times translog.Verify on it.
func (b *bench) measureVerify(ctx context.Context) error {
	skey, vkey, err := certs.NewLogKey()
	if err != nil {
		return err
	}
	signer, err := translog.NewSigner(skey, vkey)
	if err != nil {
		return err
	}
	verifier, err := translog.NewVerifier(vkey)
	if err != nil {
		return err
	}
	path := filepath.Join(b.dir, "bundle.ndjson")
	n := uint64(b.cfg.logRecords)
	if err := writeSyntheticBundle(path, signer, n); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	rep, err := translog.Verify(f, verifier, nil)
	took := time.Since(start)
	if err != nil {
		return err
	}
	if !rep.OK() || rep.Records != int(n) {
		return fmt.Errorf("the synthetic bundle does not verify: %d records, %d findings", rep.Records, len(rep.Findings))
	}
	name := fmt.Sprintf("verify_%d_records", n)
	b.r.add("log", name, took.Seconds(), "s")
	if n >= 1_000_000 {
		b.r.target("logs verify, 1,000,000 records", took.Seconds(), Below, verifyTarget, "s")
	}
	return ctx.Err()
}

// writeSyntheticBundle writes a bundle of n records shaped like connect decisions: the leaves
// in a first pass, the records (made again, and signed) in a second, so that memory holds
// only the leaves.
func writeSyntheticBundle(path string, signer *translog.Signer, n uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tree, _ := translog.NewTree(0, nil)
	leaves := make([]translog.BundleLeaf, 0, n)
	for i := range n {
		d := syntheticRecord(i)
		_, leaf, err := translog.RecordLeaf(d)
		if err != nil {
			return err
		}
		if _, err := tree.Append(leaf); err != nil {
			return err
		}
		leaves = append(leaves, translog.BundleLeaf{Index: i, ID: d.ID, Hash: leaf})
	}
	root, err := tree.Root()
	if err != nil {
		return err
	}
	cp, err := signer.SignCheckpoint(n, root)
	if err != nil {
		return err
	}
	w := translog.NewBundleWriter(f)
	for _, l := range []translog.BundleLine{{Header: &translog.BundleHeader{Origin: signer.Origin(), Size: n, From: 0, To: n}}, {Checkpoint: cp.Note}} {
		if err := w.Write(l); err != nil {
			return err
		}
	}
	for i := range leaves {
		if err := w.Write(translog.BundleLine{Leaf: &leaves[i]}); err != nil {
			return err
		}
	}
	for i := range n {
		d := syntheticRecord(i)
		canonical, err := translog.Canonical(d)
		if err != nil {
			return err
		}
		sig, err := signer.SignRecord(canonical)
		if err != nil {
			return err
		}
		if err := w.Write(translog.BundleLine{Record: &translog.BundleRecord{Index: &i, Signature: sig, Decision: d}}); err != nil {
			return err
		}
	}
	return w.Flush()
}

// syntheticInput is the policy input of the synthetic records.
const syntheticInput = `{"subject":{"id":"alice@example.com","groups":["ops"]},"host":{"name":"db-1","tags":{"env":"prod"}},"request":{"action":"connect","channels":["exec"]}}`

// syntheticRecord is the i-th record of the synthetic bundle.
func syntheticRecord(i uint64) store.Decision {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return store.Decision{ID: fmt.Sprintf("dec_%016x", i), Time: t0.Add(time.Duration(i) * time.Millisecond), Path: "connect",
		Subject: "alice@example.com", HostName: "db-1", Allow: true, Reasons: []string{"ops may reach prod with MFA"},
		Input: json.RawMessage(syntheticInput), Result: json.RawMessage(`{"allow":true}`), Revision: "r1", Labels: map[string]string{"cm": "cm-1"}}
}

// measureSequencer inserts sequencedRecords signed records into the running CM's store and
// measures the CM's CPU from the first insert until its sequencer has logged them all (it logs
// while they are inserted), beside its CPU per connect.
func (b *bench) measureSequencer(ctx context.Context, st *stack) error {
	perConnect, err := b.connectCPU(ctx, st)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, st.c.StoreDSN(), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	signer, err := translog.LoadSigner(filepath.Join(st.c.CertsDir(), certs.LogKeyFile), filepath.Join(st.c.CertsDir(), certs.LogPubFile))
	if err != nil {
		return err
	}
	base, err := logSize(ctx, db)
	if err != nil {
		return err
	}
	// The sequencer logs records while they are inserted: its CPU counts from the first insert
	// (the inserts themselves are this process's, not the CM's).
	cpu := startCPU(st.c.CM().Pid())
	b.profiled(st, "cm-sequencer", func() loadResult {
		err = b.insertForeignRecords(ctx, db, signer, base)
		return loadResult{}
	})
	if err != nil {
		return err
	}
	perRecord, err := cpu.perOp(int64(b.cfg.sequenced))
	if err != nil {
		return err
	}
	share := 100 * float64(perRecord) / float64(perConnect)
	b.r.add("log", "sequencer_cpu_per_record", us(perRecord), "µs")
	b.r.add("log", "cm_cpu_per_connect", us(perConnect), "µs")
	b.r.add("log", "sequencer_share_of_connect", share, "%")
	b.r.target("sequencing and checkpoints, share of the CM's work per connect", share, Below, sequencerShareTarget, "%")
	return nil
}

// connectCPU runs the closed-loop connect load briefly and returns the CM's CPU per connect.
func (b *bench) connectCPU(ctx context.Context, st *stack) (time.Duration, error) {
	load, err := startConnectLoad(ctx, st, "log", st.c.CMURL, st.c.CMURL, connectWorkers)
	if err != nil {
		return 0, err
	}
	defer load.stop()
	connect := load.connect
	cpu := startCPU(st.c.CM().Pid())
	res := closedLoop(ctx, connectWorkers, b.cfg.duration, connect)
	if err := b.phaseError(res, "connects beside the sequencer"); err != nil {
		return 0, err
	}
	return cpu.perOp(res.ok + res.failed)
}

// logSize is the size of the log's latest checkpoint (0 before the first).
func logSize(ctx context.Context, db *store.DB) (uint64, error) {
	cp, err := db.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return cp.Size, err
}

// insertForeignRecords inserts b.cfg.sequenced signed records into db, as other replicas
// commit them, and waits until the CM's sequencer has logged them all (it logs while they are
// inserted).
func (b *bench) insertForeignRecords(ctx context.Context, db *store.DB, signer *translog.Signer, base uint64) error {
	var next atomic.Uint64
	err := parallel(b.cfg.sequenced, enrollWorkers, func(int) error {
		i := next.Add(1)
		d := store.Decision{ID: fmt.Sprintf("dec_bench_%d", i), Time: time.Now(), Path: "connect", Subject: "alice@example.com",
			HostName: hostName, Reasons: []string{}, Input: json.RawMessage(`{}`), Result: json.RawMessage(`{"allow":false}`)}
		if _, err := signer.SignDecision(&d); err != nil { // as another replica commits it
			return err
		}
		return db.InsertDecision(ctx, d)
	})
	if err != nil {
		return err
	}
	start := time.Now()
	for {
		size, err := logSize(ctx, db)
		if err != nil {
			return err
		}
		if size >= base+uint64(b.cfg.sequenced) {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return errors.New("the sequencer did not log the records within 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}
