package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// bench is one run of the suite.
type bench struct {
	cfg config
	dir string
	r   *Report
	log *slog.Logger
	// fileLimit is the open-file limit this process and its children run with.
	fileLimit int
}

// runAll runs the selected sections between two measurements of the machine's speed; a section
// that cannot run is recorded as a failure and the others still run.
func (b *bench) runAll(ctx context.Context) {
	machine := machineFull
	if b.cfg.smoke {
		machine = machineSmoke
	}
	b.step("machine", func() error { return measureMachine(ctx, b.r, "start", machine) })
	defer b.step("machine", func() error { return measureMachine(ctx, b.r, "end", machine) })
	if b.want("opa") {
		size := opaFull
		if b.cfg.smoke {
			size = opaSmoke
		}
		b.step("opa", func() error { return measureOPA(ctx, b.r, size) })
	}
	if b.want("throughput") || b.want("setup") || b.want("cp") || b.want("failover") || b.want("decisions") || b.want("heartbeats") || b.want("sessions") || b.want("flood") {
		b.step("sqlite stack", func() error { return b.sqliteStack(ctx) })
	}
	if b.want("decisions") {
		b.step("postgres decisions", func() error { return b.postgresDecisions(ctx) })
	}
	if b.want("replicas") {
		b.step("replicas", func() error { return b.measureReplicas(ctx) })
	}
	if b.want("log") {
		b.step("log", func() error { return b.measureLog(ctx) })
	}
	if b.want("console") {
		b.step("console", func() error { return b.measureConsole(ctx) })
	}
	if b.want("hosts") {
		b.step("hosts", func() error { return b.measureHosts(ctx) })
	}
	if b.want("scaling") {
		b.step("scaling", func() error { return b.measureScaling(ctx) })
	}
	if b.want("policychange") {
		b.step("policychange", func() error { return b.measurePolicyChange(ctx) })
	}
}

func (b *bench) want(section string) bool { return b.cfg.only[section] }

// runs is full, or 1 in a smoke pass.
func (b *bench) runs(full int) int {
	if b.cfg.smoke {
		return 1
	}
	return full
}

func (b *bench) step(name string, f func() error) {
	b.log.Info("bench: start", "step", name)
	if err := f(); err != nil {
		b.log.Error("bench: step failed", "step", name, "err", err)
		b.r.fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	b.log.Info("bench: done", "step", name)
}

// The machine settles before the decisions sections, whose rates and latencies are the
// control plane's targets (settle).
const (
	// settleLoad is the load average over the last minute below which the machine counts as
	// settled.
	settleLoad = 1.0
	// settleMax bounds the wait: a machine busy with other work is measured busy, and the load
	// column says so.
	settleMax = 90 * time.Second
)

// settle lets the machine finish what the sections before section left behind: it writes the
// page cache's dirty pages out (the files the data-path sections copied, whose writeback would
// otherwise share the disk with the store's syncs) and waits until the load average over the
// last minute is below settleLoad, for at most settleMax. A smoke pass does not wait.
func (b *bench) settle(ctx context.Context, section string) {
	if b.cfg.smoke {
		return
	}
	start := time.Now()
	flushDirtyPages()
	load, err := loadAverage()
	for err == nil && load >= settleLoad && time.Since(start) < settleMax && waitOrEnd(ctx, time.Second) {
		load, err = loadAverage()
	}
	b.log.Info("bench: settled", "before", section, "waited", time.Since(start).Round(time.Second), "load", load, "err", err)
}

// sqliteStack runs every section that needs the system on its default SQLite store.
func (b *bench) sqliteStack(ctx context.Context) error {
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(b.dir, "sqlite"), withHost: b.want("throughput") || b.want("setup") || b.want("cp") || b.want("failover"),
		fastHost: b.want("throughput"), profile: b.cfg.profile != ""})
	if err != nil {
		return err
	}
	defer st.stop()
	var ossh *openSSH
	if b.want("throughput") || b.want("setup") {
		b.step("openssh", func() (err error) {
			ossh, err = startOpenSSH(ctx, filepath.Join(b.dir, "openssh"))
			return err
		})
		if ossh != nil {
			defer ossh.stop()
		}
	}
	if b.want("throughput") {
		b.step("throughput", func() error { return measureThroughput(ctx, b.r, st, ossh, b.dir, b.cfg.size) })
	}
	if b.want("setup") {
		b.step("setup", func() error {
			return measureSetup(ctx, b.r, st, ossh, filepath.Join(b.dir, "config-ssh"), b.cfg.setupRuns)
		})
	}
	if b.want("cp") {
		b.step("cp", func() error { return measureCopy(ctx, b.r, st, b.cfg.size, b.runs(cpRuns)) })
	}
	if b.want("failover") {
		b.step("failover", func() error { return measureFailover(ctx, b.r, st, b.runs(failoverRuns)) })
	}
	if b.want("decisions") {
		b.settle(ctx, "decisions on SQLite")
		b.step("decisions on SQLite", func() error { return b.measureDecisions(ctx, st, "sqlite", dbServer{}) })
	}
	if b.want("heartbeats") {
		b.step("heartbeats", func() error { return b.measureHeartbeats(ctx, st) })
	}
	if b.want("sessions") {
		b.step("sessions", func() error { return b.measureSessions(ctx, st) })
	}
	if b.want("flood") {
		b.step("flood", func() error { return b.measureFlood(ctx, st) })
	}
	return nil
}

// postgresDecisions runs the decision load against a CM on a throwaway PostgreSQL server
// (started and removed by internal/pgtest) with durable settings: every commit waits for its
// WAL flush, as on a production server, so the figure includes that wait.
func (b *bench) postgresDecisions(ctx context.Context) error {
	return b.withPostgres(ctx, func(srv *pgtest.Server, newDB func() (string, error)) error {
		dsn, err := newDB()
		if err != nil {
			return err
		}
		pid, err := srv.PostmasterPID()
		if err != nil {
			return err
		}
		b.settle(ctx, "decisions on PostgreSQL")
		return b.postgresDecisionsOn(ctx, dsn, pid)
	}, pgtest.Durable())
}

// withPostgres runs f with a throwaway PostgreSQL server (internal/pgtest), started with opts,
// whose newDB creates a fresh database and returns its DSN; the server is removed afterwards.
func (b *bench) withPostgres(ctx context.Context, f func(srv *pgtest.Server, newDB func() (string, error)) error, opts ...pgtest.Option) error {
	srv, err := pgtest.StartServer(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			b.log.Warn("bench: stop PostgreSQL", "err", err)
		}
	}()
	return f(srv, func() (string, error) {
		dsn, _, err := pgtest.CreateDatabase(ctx, srv.AdminDSN())
		return dsn, err
	})
}

// postgresDecisionsOn runs the decision load against a CM on dsn, a database of the server whose
// postmaster is dbPid.
func (b *bench) postgresDecisionsOn(ctx context.Context, dsn string, dbPid int) error {
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(b.dir, "postgres"), dsn: dsn, profile: b.cfg.profile != ""})
	if err != nil {
		return err
	}
	defer st.stop()
	return b.measureDecisions(ctx, st, "postgres", dbServer{pid: dbPid, dsn: dsn})
}

// profiled runs phase while saving a CPU profile of the CM as name.pprof in the profile
// directory, when profiling is on.
func (b *bench) profiled(st *stack, name string, phase func() loadResult) loadResult {
	return b.profiledAs(st, name, false, phase)
}

// traceLength is how much of a phase profiledAs traces: the runtime trace of a CM under load
// grows by about a megabyte a second.
const traceLength = 3 * time.Second

// profiledAs is profiled, and with trace it also saves a runtime trace of the phase's first
// traceLength as name.trace (go tool trace: what each goroutine spent its time on, running,
// waiting for a processor, in system calls).
func (b *bench) profiledAs(st *stack, name string, trace bool, phase func() loadResult) loadResult {
	if b.cfg.profile == "" || st.pprof == "" {
		return phase()
	}
	fetches := []func() error{func() error {
		return fetchProfile(st.pprof, filepath.Join(b.cfg.profile, name+".pprof"), b.cfg.duration-time.Second)
	}}
	if trace {
		fetches = append(fetches, func() error {
			return fetchTrace(st.pprof, filepath.Join(b.cfg.profile, name+".trace"), min(traceLength, b.cfg.duration))
		})
	}
	done := make(chan error, len(fetches))
	for _, fetch := range fetches {
		go func() { done <- fetch() }()
	}
	res := phase()
	for range fetches {
		if err := <-done; err != nil {
			b.log.Warn("bench: profile", "phase", name, "err", err)
		}
	}
	return res
}
