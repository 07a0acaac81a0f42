package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/fdlimit"
)

// config is the suite's command line.
type config struct {
	bin       string
	out       string
	only      map[string]bool
	size      int64
	setupRuns int
	// logRecords is the size of the bundle the log section verifies; sequenced how many records
	// its sequencer's cost is measured on.
	logRecords, sequenced int
	// consoleRecords is how many records the console section's decision log holds.
	consoleRecords int
	// scalingMax is the largest decision log the scaling section grows (of scalingSizes).
	scalingMax int
	// smoke runs every section at a tiny size, to show the harness works (make test).
	smoke    bool
	duration time.Duration
	rate     int
	sessions int
	flood    int
	keep     bool
	profile  string
	strict   bool
	// hosts is how many idle Hosts the hosts section holds on one CM, for hostsIdle.
	hosts     int
	hostsIdle time.Duration
}

// sections the suite knows, in the order it runs them.
var sections = []string{"opa", "throughput", "setup", "cp", "failover", "decisions", "heartbeats", "sessions", "flood", "replicas", "log", "console", "hosts", "policychange", "scaling"}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	only := fs.String("only", strings.Join(sections, ","), "comma-separated sections to run: "+strings.Join(sections, ", "))
	fs.StringVar(&c.bin, "bin", "bin/portcullis", "the portcullis binary")
	fs.StringVar(&c.out, "out", "bench/results.json", "where to write the results")
	fs.Int64Var(&c.size, "size", 256<<20, "bytes per bulk transfer")
	fs.IntVar(&c.setupRuns, "setup-runs", 30, "connection set-ups per tool")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of each load phase")
	fs.IntVar(&c.rate, "rate", 500, "fixed connect rate (per second) of the latency phase")
	fs.IntVar(&c.sessions, "sessions", 10000, "idle sessions held through one CS")
	fs.IntVar(&c.flood, "flood", 2000, "slow connections from one address beside which legitimate sessions connect")
	fs.IntVar(&c.hosts, "hosts", idleHostsTarget, "idle Hosts, each long-polling on its own TLS connection, that one CM holds (hosts section)")
	fs.DurationVar(&c.hostsIdle, "hosts-idle", time.Minute, "how long the hosts section measures the CM holding its idle Hosts")
	fs.IntVar(&c.logRecords, "log-records", 1_000_000, "records in the bundle that the log section verifies")
	fs.IntVar(&c.scalingMax, "scaling-max", scalingSizes[len(scalingSizes)-1], "largest decision log the scaling section grows, of "+fmt.Sprint(scalingSizes)+" (at least two of them)")
	fs.BoolVar(&c.smoke, "smoke", false, "run every section at a tiny size, targets unchecked: does the harness work? (make test)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory (logs) after the run")
	fs.BoolVar(&c.strict, "strict", false, "exit 1 when a target is missed, not only when a figure could not be measured")
	fs.StringVar(&c.profile, "profile", "", "directory (created if missing) to save CPU profiles of the CM under load and a runtime trace of its fixed-rate phase (default: none)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.only[s] = true
		}
	}
	c.sequenced, c.consoleRecords = sequencedRecords, consoleRecords
	if c.smoke {
		c.smallest()
	}
	var errs []error
	for s := range c.only {
		if !containsString(sections, s) {
			errs = append(errs, fmt.Errorf("unknown section %q", s))
		}
	}
	if c.setupRuns < 30 && !c.smoke {
		errs = append(errs, errors.New("-setup-runs must be at least 30"))
	}
	if c.scalingMax < scalingSizes[1] {
		errs = append(errs, fmt.Errorf("-scaling-max must be at least %d", scalingSizes[1]))
	}
	if c.size <= 0 || c.rate <= 0 || c.sessions <= 0 || c.flood <= 0 || c.duration <= 0 || c.logRecords <= 0 || c.hosts <= 0 || c.hostsIdle <= 0 {
		errs = append(errs, errors.New("-size, -rate, -sessions, -flood, -duration, -log-records, -hosts and -hosts-idle must be positive"))
	}
	return c, errors.Join(errs...)
}

// smallest shrinks every size to a smoke pass's.
func (c *config) smallest() {
	c.size, c.setupRuns, c.duration, c.rate = 1<<20, 3, time.Second, 20
	c.sessions, c.flood, c.logRecords, c.sequenced = 20, 20, 1000, 200
	c.consoleRecords = 500
	c.hosts, c.hostsIdle = 50, 2*time.Second
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	if spec := os.Getenv(floodEnv); spec != "" {
		if err := runFlood(context.Background(), spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench flood:", err)
			os.Exit(1)
		}
		return
	}
	if spec := os.Getenv(holdEnv); spec != "" {
		if err := runHolder(context.Background(), spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench hold:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if len(r.Failures) > 0 || cfg.strict && !r.Passed() {
		os.Exit(1)
	}
}

// run measures every selected section, prints the table and writes the results.
func run(ctx context.Context, cfg config) (*Report, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	limit, err := fdlimit.Raise(max(2*cfg.sessions, floodFDsPerConn*cfg.flood, cfg.hosts) + fdHeadroom)
	if err != nil {
		return nil, err
	}
	if err := makeProfileDir(cfg.profile); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "portcullis-bench-")
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if cfg.keep {
		log.Info("working directory kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	host, _ := os.Hostname()
	r := &Report{Started: time.Now().UTC(), Machine: fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version()),
		Commit: sourceCommit(ctx), loadAverage: loadAverage}
	r.LoadStart = r.load()
	b := &bench{cfg: cfg, dir: dir, r: r, log: log, fileLimit: limit}
	if shares, ok := machineDuring(func() { b.runAll(ctx) }); ok {
		r.StealPercent = &shares.steal
	}
	if err := r.WriteTable(os.Stdout); err != nil {
		return nil, err
	}
	if err := r.WriteJSON(cfg.out); err != nil {
		return nil, err
	}
	met := 0
	for _, t := range r.Targets {
		if t.Pass {
			met++
		}
	}
	fmt.Printf("\n%d of %d targets met; results written to %s\n", met, len(r.Targets), cfg.out)
	return r, nil
}

// fdHeadroom is the descriptors a process needs beside two per session (listeners, the CM
// connection, logs, the runtime's own).
const fdHeadroom = 200

// sourceCommit names the checked-out commit, with "+dirty" when the tree has uncommitted
// changes; "unknown" outside a git checkout.
func sourceCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		commit += "+dirty"
	}
	return commit
}
