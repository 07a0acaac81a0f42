package main

import (
	"context"
	"fmt"
	"time"
)

// measureHeartbeats enrols simulated Hosts and has them heartbeat as fast as the CM answers.
func (b *bench) measureHeartbeats(ctx context.Context, st *stack) error {
	r := b.r
	hosts, err := enrollSimHosts(ctx, st, "hb", heartbeatHosts)
	if err != nil {
		return err
	}
	// Every Host's TLS connection is opened before the measured phase, not in it.
	if err := parallel(len(hosts), heartbeatWorkers, func(i int) error { return hosts[i].heartbeat(ctx, st.c.CMURL) }); err != nil {
		return fmt.Errorf("first heartbeats: %w", err)
	}
	var turn [heartbeatWorkers]int
	beat := func(ctx context.Context, w int) error {
		h := hosts[(w+turn[w]*heartbeatWorkers)%len(hosts)]
		turn[w]++
		return h.heartbeat(ctx, st.c.CMURL)
	}
	closedLoop(ctx, heartbeatWorkers, time.Second, beat)
	cpu := startCPU(st.c.CM().Pid())
	res := b.profiled(st, "cm-heartbeat", func() loadResult { return closedLoop(ctx, heartbeatWorkers, b.cfg.duration, beat) })
	if err := b.phaseError(res, "heartbeats"); err != nil {
		return err
	}
	perBeat, err := cpu.perOp(res.ok)
	if err != nil {
		return err
	}
	r.add("heartbeats", "heartbeats_per_s", res.rate(), "1/s")
	r.add("heartbeats", "p50", ms(percentile(res.latencies, 50)), "ms")
	r.add("heartbeats", "p99", ms(percentile(res.latencies, 99)), "ms")
	r.add("heartbeats", "cm_cpu_per_heartbeat", us(perBeat), "µs")
	r.add("heartbeats", "cm_cpu_bound_heartbeats_per_s", cpuBound(perBeat), "1/s")
	r.target("heartbeats/s", res.rate(), AtLeast, 20000, "1/s")
	return nil
}
