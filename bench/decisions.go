package main

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// measureDecisions runs the connect load against st's CM (storeName: "sqlite" or "postgres";
// db the database server, zero when the database runs inside the CM): the closed-loop maximum
// with p50/p99, the CPU time per connect of the CM, the database server and the whole machine,
// and the server's transactions per connect, checked against the rate and CPU targets on each store, and on SQLite
// the open loop at the fixed rate with its p99.
func (b *bench) measureDecisions(ctx context.Context, st *stack, storeName string, db dbServer) error {
	r, d := b.r, b.cfg.duration
	load, err := startConnectLoad(ctx, st, "load-"+storeName, st.c.CMURL, st.c.CMURL, connectWorkersPeak)
	if err != nil {
		return err
	}
	defer load.stop()
	connect := load.connect

	budget, err := startBudget(ctx, st.c.CM().Pid(), db)
	if err != nil {
		return err
	}
	res := b.profiled(st, "cm-connect-"+storeName, func() loadResult { return closedLoop(ctx, connectWorkers, d, connect) })
	if err := b.phaseError(res, "closed-loop connects on "+storeName); err != nil {
		return err
	}
	perConnect, err := budget.cm.perOp(res.ok + res.failed)
	if err != nil {
		return err
	}
	r.add("decisions", storeName+"_connects_per_s", res.rate(), "1/s")
	r.add("decisions", storeName+"_p50", ms(percentile(res.latencies, 50)), "ms")
	r.add("decisions", storeName+"_p99", ms(percentile(res.latencies, 99)), "ms")
	r.add("decisions", storeName+"_cm_cpu_per_connect", us(perConnect), "µs")
	r.add("decisions", storeName+"_cm_cpu_bound_connects_per_s", cpuBound(perConnect), "1/s")
	if err := budget.record(ctx, r, storeName, res.ok+res.failed); err != nil {
		return err
	}
	peak, peakPerConnect, err := b.measurePeak(ctx, st, connect, storeName)
	if err != nil {
		return err
	}
	if err := b.measureNewConnections(ctx, st, load, storeName); err != nil {
		return err
	}
	title := storeTitle(storeName)
	r.target(fmt.Sprintf("connects/s with decisions committed (%s), the more of %d and %d Guests", title, connectWorkers, connectWorkersPeak),
		max(res.rate(), peak), AtLeast, 1000, "1/s")
	r.target(fmt.Sprintf("CM CPU per connect (%s), the less of %d and %d Guests", title, connectWorkers, connectWorkersPeak),
		us(min(perConnect, peakPerConnect)), AtMost, 800, "µs")
	if storeName != "sqlite" {
		return nil
	}
	return b.measureFixedRate(ctx, st, storeName, func(ctx context.Context) error { return connect(ctx, 0) })
}

// storeTitle names a store as the targets' titles do: "SQLite" or "PostgreSQL".
func storeTitle(storeName string) string {
	if storeName == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}

// measurePeak runs the closed loop again with connectWorkersPeak Guests, the CM's capacity:
// with connectWorkers Guests about a sixth of the machine's CPU stays idle, and more Guests use
// more of it (each group commit then carries more connects). It records the rate, p50, p99 and
// the CM's CPU per connect, and returns the rate and the CPU per connect.
func (b *bench) measurePeak(ctx context.Context, st *stack, connect func(context.Context, int) error, storeName string) (float64, time.Duration, error) {
	cpu := startCPU(st.c.CM().Pid())
	res := closedLoop(ctx, connectWorkersPeak, b.cfg.duration, connect)
	if err := b.phaseError(res, fmt.Sprintf("closed-loop connects of %d Guests on %s", connectWorkersPeak, storeName)); err != nil {
		return 0, 0, err
	}
	perConnect, err := cpu.perOp(res.ok + res.failed)
	if err != nil {
		return 0, 0, err
	}
	name := fmt.Sprintf("%s_%d_guests", storeName, connectWorkersPeak)
	b.r.add("decisions", name+"_connects_per_s", res.rate(), "1/s")
	b.r.add("decisions", name+"_p50", ms(percentile(res.latencies, 50)), "ms")
	b.r.add("decisions", name+"_p99", ms(percentile(res.latencies, 99)), "ms")
	b.r.add("decisions", name+"_cm_cpu_per_connect", us(perConnect), "µs")
	return res.rate(), perConnect, nil
}

// measureFixedRate runs connect at the fixed rate (the open loop) against st's CM and records
// p50, p99, the CM's CPU per connect and its own count of the connects it answered within the
// target, checked against the p99 target.
func (b *bench) measureFixedRate(ctx context.Context, st *stack, storeName string, connect func(context.Context) error) error {
	r, d := b.r, b.cfg.duration
	// The phase before this one left work behind (a backlog of Hosts' mail and log records
	// from the closed loop on new connections): a warm-up at the rate, not counted, lets the CM
	// settle, so that the figures describe the rate, not the change of load.
	openLoop(ctx, b.cfg.rate, fixedWarmUp(d), connect)
	m0, err := scrapeCM(ctx, st)
	if err != nil {
		return err
	}
	cpu := startCPU(st.c.CM().Pid())
	start := time.Now()
	var fixed loadResult
	shares, sharesKnown := machineDuring(func() {
		fixed = b.profiledAs(st, "cm-fixed-"+storeName, true, func() loadResult { return openLoop(ctx, b.cfg.rate, d, connect) })
	})
	perConnect, err := cpu.perOp(fixed.ok + fixed.failed)
	if err != nil {
		return err
	}
	m1, err := scrapeCM(ctx, st)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if fixed.failed > 0 {
		b.log.Warn("bench: fixed-rate connects failed", "failed", fixed.failed, "first", fixed.firstErr)
	}
	// A request that failed (or was never sent because too many were outstanding) counts as
	// answered at the request timeout: the latency target must see it.
	for range fixed.failed {
		fixed.latencies = append(fixed.latencies, requestTimeout)
	}
	p99 := ms(percentile(fixed.latencies, 99))
	name := fmt.Sprintf("%s_at_%d_per_s", storeName, b.cfg.rate)
	r.add("decisions", name+"_p50", ms(percentile(fixed.latencies, 50)), "ms")
	r.add("decisions", name+"_p99", p99, "ms")
	r.add("decisions", name+"_failed", float64(fixed.failed), "requests")
	// Higher than the closed loop's: at a moderate rate each commit and each Host's collection
	// carries fewer connects (docs/connect-capacity.md).
	r.add("decisions", name+"_cm_cpu_per_connect", us(perConnect), "µs")
	if sharesKnown {
		// How busy the machine was (the CM, the load generator and the kernel together): the
		// nearer the CPU is to full, the longer requests queue for it, which sets the tail. A
		// vCPU the hypervisor stops for tens of milliseconds stalls every request in flight: the
		// tail then says as much about the host as about the CM. iowait is time the CPU sat idle
		// while a commit waited for its disk sync.
		r.add("decisions", name+"_machine_busy", shares.busy, "%")
		r.add("decisions", name+"_machine_iowait", shares.iowait, "%")
		r.add("decisions", name+"_cpu_steal", shares.steal, "%")
	}
	if err := b.recordCMView(name, m0, m1, elapsed); err != nil {
		return fmt.Errorf("the CM's metrics: %w", err)
	}
	r.target(fmt.Sprintf("connect p99 at %d/s (SQLite)", b.cfg.rate), p99, Below, 20, "ms")
	return nil
}

// recordCMView records the CM's own account of a fixed-rate phase, from its metrics before (m0)
// and after (m1) it, elapsed apart: the share of the granted connects it answered within the
// target (portcullis_cm_request_duration_seconds; the rest of the p99 is time outside the
// CM's handler: the load generator, the kernel, the wait for a CPU), and where their time went
// (connectSplit).
func (b *bench) recordCMView(name string, m0, m1 map[string]float64, elapsed time.Duration) error {
	within0, all0, err := connectsWithin(m0, fixedTargetLE)
	if err != nil {
		return err
	}
	within1, all1, err := connectsWithin(m1, fixedTargetLE)
	if err != nil {
		return err
	}
	if all1 <= all0 {
		return nil // no connect was granted in the phase: nothing to account for
	}
	b.r.add("decisions", name+"_cm_answered_within_20ms", 100*(within1-within0)/(all1-all0), "%")
	split, err := splitConnects(m0, m1, elapsed)
	if err != nil {
		return err
	}
	b.r.add("decisions", name+"_cm_decide_mean", ms(split.decide), "ms")
	b.r.add("decisions", name+"_cm_commit_mean", ms(split.commit), "ms")
	b.r.add("decisions", name+"_db_writer_busy", split.writerBusy, "%")
	b.r.add("decisions", name+"_writes_per_group_commit", split.writesPerBatch, "writes")
	return nil
}

// fixedTargetLE is the CM's histogram bound (seconds, as the CM writes it) that the fixed-rate
// phase's latency target names: 20 ms.
const fixedTargetLE = "0.02"

// fixedWarmUp is how long the fixed-rate phase of duration d first runs uncounted: a tenth
// of it, at least a second (a smoke pass's phases are shorter than that).
func fixedWarmUp(d time.Duration) time.Duration { return min(max(d/10, time.Second), d) }

// minNewConnPhase is the shortest phase of measureNewConnections: long enough for a few of its
// connects to complete, a handshake each, on a small and loaded machine.
const minNewConnPhase = 3 * time.Second

// measureNewConnections measures the CM's CPU time per connect when every connect comes on a
// new mTLS connection, as from a Guest CLI process (one per connect, keeping no connection or
// TLS session): the closed-loop figure's connects share kept-alive connections, so this one
// adds a full TLS handshake, client certificate included.
func (b *bench) measureNewConnections(ctx context.Context, st *stack, load *connectLoad, storeName string) error {
	cpu := startCPU(st.c.CM().Pid())
	res := closedLoop(ctx, connectWorkers, max(b.cfg.duration/2, minNewConnPhase), load.connectNew)
	if err := b.phaseError(res, "connects on new connections on "+storeName); err != nil {
		return err
	}
	perConnect, err := cpu.perOp(res.ok + res.failed)
	if err != nil {
		return err
	}
	b.r.add("decisions", storeName+"_new_conn_connects_per_s", res.rate(), "1/s")
	b.r.add("decisions", storeName+"_new_conn_cm_cpu_per_connect", us(perConnect), "µs")
	return nil
}

// maxFailedShare is the share of a closed-loop phase's requests that may fail (on a loaded
// machine a long-poll can lapse) before the phase counts as not measured.
const maxFailedShare = 0.01

// phaseError reports a load phase whose requests failed too often to count; fewer failures are
// logged, and only successes count towards the rate.
func (b *bench) phaseError(res loadResult, what string) error {
	total := res.failed + res.ok
	switch {
	case res.ok == 0:
		return fmt.Errorf("%s: no request completed (first error: %v)", what, res.firstErr)
	case float64(res.failed) > maxFailedShare*float64(total):
		return fmt.Errorf("%s: %d of %d requests failed, first: %w", what, res.failed, total, res.firstErr)
	case res.failed > 0:
		b.log.Warn("bench: some requests failed", "phase", what, "failed", res.failed, "of", total, "first", res.firstErr)
	}
	return nil
}

// cpuBound is the rate the CM would reach with every CPU of the machine to itself at perOp of
// CPU per operation: the capacity the load generator and other processes do not eat into.
func cpuBound(perOp time.Duration) float64 {
	if perOp <= 0 {
		return 0
	}
	return float64(runtime.NumCPU()) / perOp.Seconds()
}

// cpuBudget measures where a load phase's CPU time went: the CM, the database server (when it
// runs in processes of its own; nil otherwise) and the whole machine, whose remainder is the
// load generator and the kernel. The machine's figure bounds the rate of a machine that runs it
// all. It also counts the database server's transactions (nil: none).
type cpuBudget struct {
	cm, db, machine *cpuMeter
	tx              *txMeter
}

// startBudget starts measuring the CM's process cmPid, the database server db (zero: none)
// and the machine.
func startBudget(ctx context.Context, cmPid int, db dbServer) (*cpuBudget, error) {
	c := &cpuBudget{cm: startCPU(cmPid), machine: startMachineCPU()}
	if db.pid != 0 {
		c.db = startTreeCPU(db.pid)
	}
	if db.dsn != "" {
		tx, err := startTxMeter(ctx, db.dsn)
		if err != nil {
			return nil, err
		}
		c.tx = tx
	}
	return c, nil
}

// record adds the database server's and the machine's CPU time per connect since the start,
// over ops connects, the rate a machine running it all is bound to, and the server's
// transactions per connect.
func (c *cpuBudget) record(ctx context.Context, r *Report, storeName string, ops int64) error {
	if c.db != nil {
		db, err := c.db.perOp(ops)
		if err != nil {
			return fmt.Errorf("the database server's CPU time: %w", err)
		}
		r.add("decisions", storeName+"_db_cpu_per_connect", us(db), "µs")
	}
	if c.tx != nil {
		tx, err := c.tx.perOp(ctx, ops)
		if err != nil {
			return err
		}
		r.add("decisions", storeName+"_db_transactions_per_connect", tx, "transactions")
	}
	machine, err := c.machine.perOp(ops)
	if err != nil {
		return err
	}
	r.add("decisions", storeName+"_machine_cpu_per_connect", us(machine), "µs")
	r.add("decisions", storeName+"_machine_cpu_bound_connects_per_s", cpuBound(machine), "1/s")
	return nil
}
