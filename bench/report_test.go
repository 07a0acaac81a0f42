package main

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample", ms(7), 99, 7 * time.Millisecond},
		{"median of unsorted", ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
		{"p95 of 20 is the 19th", ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 95, 19 * time.Millisecond},
		{"p100 is the maximum", ms(3, 9, 1), 100, 9 * time.Millisecond},
		{"p0 is the minimum", ms(3, 9, 1), 0, 1 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.samples, tc.p); got != tc.want {
				t.Fatalf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}

func TestTargetsPassOnlyWhenMet(t *testing.T) {
	cases := []struct {
		value, threshold float64
		op               Comparison
		want             bool
	}{
		{1.0, 1.0, AtLeast, true},
		{0.99, 1.0, AtLeast, false},
		{0.5, 0.5, AtMost, true},
		{0.51, 0.5, AtMost, false},
		{19.9, 20, Below, true},
		{20, 20, Below, false},
		{math.NaN(), 1, AtLeast, false},
		{1, 1, Comparison("?"), false},
	}
	for _, tc := range cases {
		if got := meets(tc.value, tc.op, tc.threshold); got != tc.want {
			t.Errorf("meets(%v %s %v) = %v, want %v", tc.value, tc.op, tc.threshold, got, tc.want)
		}
	}
}

func TestReportRoundTripsAndPrintsPassAndFail(t *testing.T) {
	r := &Report{Machine: "test"}
	r.add("throughput", "portcullis", 180, "MB/s")
	r.add("throughput", "openssh_jump", 150, "MB/s")
	v := r.ratio("throughput", "portcullis/openssh_jump", 180, 150)
	r.target("relay throughput vs OpenSSH ssh -J", v, AtLeast, 1.0, "x")
	r.target("heartbeats/s", 6000, AtLeast, 20000, "1/s")
	if !math.IsNaN(r.ratio("setup", "x/zero", 1, 0)) || len(r.Failures) != 1 {
		t.Fatalf("a ratio to zero must be NaN and recorded as a failure: %v", r.Failures)
	}
	if r.Passed() {
		t.Fatal("a report with a failed target passed")
	}
	r.notef("throughput: no CPU ratio")
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| throughput | portcullis", "1.20", "PASS", "FAIL", "not measured: setup/x/zero", "note: throughput: no CPU ratio"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Figures) != 2 || len(back.Ratios) != 1 || len(back.Targets) != 2 || back.Targets[0].Pass != true || back.Targets[1].Pass != false {
		t.Fatalf("read back %+v", back)
	}
}

func TestCPUPerMBSumsSamplesUnderAClockTick(t *testing.T) {
	// Five 1 MB downloads, one of which crossed a 10 ms tick: 2 ms/MB, not the median's 0.
	s := []pathSample{{cpuMillis: 0}, {cpuMillis: 10}, {cpuMillis: 0}, {cpuMillis: 0}, {cpuMillis: 0}}
	if got := cpuPerMB(s, 1e6); got != 2 {
		t.Fatalf("cpuPerMB = %v, want 2", got)
	}
	if got := cpuPerMB([]pathSample{{cpuMillis: math.NaN()}}, 1e6); !math.IsNaN(got) {
		t.Fatalf("an unreadable CPU time gave %v, want NaN", got)
	}
}

func TestParseProcFiles(t *testing.T) {
	stat := "1234 (portcullis (cm) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 100 0 0"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v; want 3.25s", cpu, err)
	}
	for _, bad := range []string{"", "1234 no parens", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 7"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
	rss, err := parseStatusRSS("Name:\tportcullis\nVmPeak:\t 9 kB\nVmRSS:\t   30004 kB\nThreads: 8\n")
	if err != nil || rss != 30004<<10 {
		t.Fatalf("parseStatusRSS = %v, %v", rss, err)
	}
	if l, err := parseLoadAvg("1.52 0.98 0.40 2/311 4242\n"); err != nil || l != 1.52 {
		t.Fatalf("parseLoadAvg = %v, %v; want 1.52", l, err)
	}
	for _, bad := range []string{"", "x 1 2"} {
		if _, err := parseLoadAvg(bad); err == nil {
			t.Errorf("parseLoadAvg(%q) accepted", bad)
		}
	}
	m0, err := parseMachineCPU("cpu  100 2 50 800 10 3 4 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n")
	if err != nil || m0 != (machineCPU{total: 1009, busy: 159, iowait: 10, steal: 40}) {
		t.Fatalf("parseMachineCPU = %+v, %v; want total 1009, busy 159, iowait 10, steal 40", m0, err)
	}
	if got := m0.busyTime(); got != 1590*time.Millisecond {
		t.Fatalf("busyTime = %v; want 1.59s (159 ticks)", got)
	}
	if got := m0.sharesUntil(machineCPU{total: 1209, busy: 259, iowait: 30, steal: 90}); got != (machineShares{busy: 50, iowait: 10, steal: 25}) {
		t.Fatalf("sharesUntil = %+v; want busy 50, iowait 10, steal 25", got)
	}
	if got := m0.sharesUntil(m0); got != (machineShares{}) {
		t.Fatalf("sharesUntil over no time = %+v; want zeros", got)
	}
	for _, bad := range []string{"", "intr 1 2 3 4 5 6 7 8", "cpu 1 2 3 4 5 6 7", "cpu 1 2 3 4 5 6 7 x"} {
		if _, err := parseMachineCPU(bad); err == nil {
			t.Errorf("parseMachineCPU(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"Name: x\n", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseStatusRSS(bad); err == nil {
			t.Errorf("parseStatusRSS(%q) accepted", bad)
		}
	}
}

func TestFlagsAndHoldSpec(t *testing.T) {
	cfg, err := parseFlags([]string{"-only", "opa, sessions", "-sessions", "10"})
	if err != nil || !cfg.only["opa"] || !cfg.only["sessions"] || cfg.only["throughput"] || cfg.setupRuns != 30 {
		t.Fatalf("parseFlags = %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{{"-only", "nonsense"}, {"-setup-runs", "29"}, {"-rate", "0"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	spec := holdSpec{addr: "127.0.0.1:1970", caFile: "/tmp/ca.crt", keyPath: "/tmp/ticket.key", nonce: "abc"}
	back, err := decodeHoldSpec(spec.encode())
	if err != nil || back != spec {
		t.Fatalf("hold spec round trip = %+v, %v", back, err)
	}
	if _, err := decodeHoldSpec("a|b"); err == nil {
		t.Error("a hold spec with two fields was accepted")
	}
}

// The table names the commit and the load beside every figure, and says when the machine was
// busy or the hypervisor took much of its CPU time.
func TestTheTableSaysHowBusyTheMachineWas(t *testing.T) {
	low, high := 1.5, 25.0
	for _, tc := range []struct {
		loads  []float64
		steal  *float64
		loaded bool
	}{{[]float64{0.2, 0.9, 1.4}, nil, false}, {[]float64{0.2, 3.7, 0.9}, &low, true}, {[]float64{0.2, 0.9, 1.4}, &high, false}} {
		i := 0
		r := &Report{Machine: "test", Commit: "abc123", StealPercent: tc.steal, loadAverage: func() (float64, error) { i++; return tc.loads[i-1], nil }}
		r.LoadStart = r.load()
		r.add("opa", "decide_p50", 41, "µs")
		r.add("opa", "decide_p99", 90, "µs")
		var out strings.Builder
		if err := r.WriteTable(&out); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if !strings.Contains(text, "commit abc123") || strings.Contains(text, "LOADED") != tc.loaded || !strings.Contains(text, fmt.Sprintf("%.2f", tc.loads[2])) {
			t.Errorf("loads %v: table\n%s\nwant the commit, each figure's load and LOADED=%v", tc.loads, text, tc.loaded)
		}
		stolen := tc.steal != nil && *tc.steal > stealLimit
		if tc.steal != nil && !strings.Contains(text, fmt.Sprintf("withheld %.1f %%", *tc.steal)) || strings.Contains(text, "STOLEN") != stolen {
			t.Errorf("steal %v: table\n%s\nwant the steal and STOLEN=%v", tc.steal, text, stolen)
		}
	}
}

func TestCPUMeterDividesWhatItsClockCountedSinceTheStart(t *testing.T) {
	clock := []time.Duration{time.Second, 3 * time.Second}
	m := startMeter(func() (time.Duration, error) { v := clock[0]; clock = clock[1:]; return v, nil })
	if got, err := m.perOp(4); err != nil || got != 500*time.Millisecond {
		t.Fatalf("perOp(4) = %v, %v; want 500ms", got, err)
	}
	broken := errors.New("no /proc")
	m = startMeter(func() (time.Duration, error) { return 0, broken })
	if _, err := m.perOp(1); !errors.Is(err, broken) {
		t.Fatalf("perOp after a failed start = %v; want its error", err)
	}
	m = startMeter(func() (time.Duration, error) { return time.Second, nil })
	if _, err := m.perOp(0); err == nil {
		t.Fatal("perOp(0) divided by no operations")
	}
}
