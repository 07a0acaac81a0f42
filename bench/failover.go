package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/localstack"
)

// Failover measurement shape.
const (
	// failoverRelayID is the second relay beside relayID, in the same region: either may be
	// chosen, and the Guest must fail over to the other when the chosen one hangs.
	failoverRelayID = "cs-failover"
	// failoverRuns is how many times a chosen relay is made to hang (one in a smoke pass).
	failoverRuns = 5
)

var (
	// chosenRelay reads the relay of a session from `exec -v`'s stderr.
	chosenRelay = regexp.MustCompile(`session ses_[0-9a-f]+ to \S+ via relay (\S+) over`)
	// gaveUpRelay reads the Guest's failover line: which relay, after how long.
	gaveUpRelay = regexp.MustCompile(`portcullis: relay (\S+) did not answer after ([0-9.]+)s; trying another relay`)
)

// measureFailover makes the relay a Guest in auto mode would use hang (SIGSTOP: the kernel still
// accepts its connections) and times `portcullis exec` through the other one: the Guest's own
// account of how long it gave the hung relay (target ≤ 3 s) and the whole command's time.
func measureFailover(ctx context.Context, r *Report, st *stack, runs int) error {
	other, err := st.c.StartRelay(ctx, localstack.RelaySpec{ID: failoverRelayID, Region: "eu-north"})
	if err != nil {
		return err
	}
	defer other.Kill()
	if err := st.c.WaitRelays(ctx, st.admin, relayID, failoverRelayID); err != nil {
		return err
	}
	procs := map[string]int{relayID: st.relay.Pid(), failoverRelayID: other.Pid()}
	var gaveUp, total []time.Duration
	for i := range runs {
		g, t, err := failOnce(ctx, st, procs)
		if err != nil {
			return fmt.Errorf("failover run %d: %w", i+1, err)
		}
		gaveUp, total = append(gaveUp, g), append(total, t)
	}
	g50 := percentile(gaveUp, 50)
	r.add("failover", "relay_given_up_after_p50", ms(g50), "ms")
	r.add("failover", "exec_with_failover_p50", ms(percentile(total, 50)), "ms")
	r.add("failover", "runs", float64(runs), "runs")
	r.target("failover from a hung relay (time to give it up, p50)", g50.Seconds(), AtMost, 3, "s")
	return nil
}

// failOnce finds the relay the Guest is given, stops it, runs exec through the other and
// resumes the stopped one.
func failOnce(ctx context.Context, st *stack, procs map[string]int) (gaveUp, total time.Duration, err error) {
	out, err := st.c.Guest(ctx, st.user, "exec", "-v", hostName, "--", "true").CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("exec before the hang: %w: %s", err, out)
	}
	m := chosenRelay.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no relay named in exec -v's output: %s", out)
	}
	chosen := string(m[1])
	pid, ok := procs[chosen]
	if !ok {
		return 0, 0, fmt.Errorf("exec went through %s, not a relay of this section", chosen)
	}
	if err := hang(pid); err != nil {
		return 0, 0, err
	}
	defer func() { _ = unhang(pid) }()
	start := time.Now()
	out, err = st.c.Guest(ctx, st.user, "exec", hostName, "--", "true").CombinedOutput()
	total = time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("exec with %s hung: %w: %s", chosen, err, out)
	}
	g := gaveUpRelay.FindSubmatch(out)
	if g == nil || string(g[1]) != chosen {
		return 0, 0, fmt.Errorf("the Guest did not say it gave %s up: %s", chosen, out)
	}
	secs, err := strconv.ParseFloat(string(g[2]), 64)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(secs * float64(time.Second)), total, nil
}
