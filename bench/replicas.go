package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// crossReplicaTarget is the most the cross-replica path may add to the p50 of an `exec`
// set-up on PostgreSQL (issue 13).
const crossReplicaTarget = 50.0 // ms

// measureReplicas measures connects per second and `portcullis exec` set-up with one CM and
// with two CM replicas on one PostgreSQL server. With two, the Host polls cm-1 and the Guest
// asks cm-2, so that every request crosses replicas through the store.
func (b *bench) measureReplicas(ctx context.Context) error {
	p50 := map[int]float64{}
	err := b.withPostgres(ctx, func(_ *pgtest.Server, newDB func() (string, error)) error {
		for _, n := range []int{1, 2} {
			dsn, err := newDB()
			if err != nil {
				return err
			}
			if p50[n], err = b.measureReplicaCount(ctx, dsn, n); err != nil {
				return fmt.Errorf("%d CM(s): %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	added := p50[2] - p50[1]
	b.r.add("replicas", "cross_replica_exec_p50_added", added, "ms")
	b.r.target("cross-replica exec set-up, added p50 (PostgreSQL)", added, AtMost, crossReplicaTarget, "ms")
	return nil
}

// measureReplicaCount runs one stack of n CMs and returns its `exec` set-up p50 in ms.
func (b *bench) measureReplicaCount(ctx context.Context, dsn string, n int) (float64, error) {
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(b.dir, fmt.Sprintf("replicas-%d", n)), dsn: dsn, replicas: n, withHost: true})
	if err != nil {
		return 0, err
	}
	defer st.stop()
	hostURL, guestURL := st.c.CMURL, st.c.CMURL
	if names := st.c.ReplicaNames(); len(names) > 1 {
		hostURL, guestURL = st.c.ReplicaURL(names[0]), st.c.ReplicaURL(names[1])
		if err := st.c.ShareLogin(st.user, guestURL); err != nil {
			return 0, err
		}
	}
	name := fmt.Sprintf("cms_%d", n)
	rate, err := b.replicaConnectRate(ctx, st, hostURL, guestURL, name)
	if err != nil {
		return 0, err
	}
	b.r.add("replicas", name+"_connects_per_s", rate, "1/s")
	var setups []time.Duration
	for i := range b.cfg.setupRuns {
		d, err := timeCommand(st.c.GuestAt(ctx, st.user, guestURL, "exec", hostName, "--", "true"))
		if err != nil {
			return 0, fmt.Errorf("portcullis exec, run %d: %w", i+1, err)
		}
		setups = append(setups, d)
	}
	p50 := ms(percentile(setups, 50))
	b.r.add("replicas", name+"_exec_p50", p50, "ms")
	b.r.add("replicas", name+"_exec_p95", ms(percentile(setups, 95)), "ms")
	return p50, nil
}

// replicaConnectRate runs the closed-loop connect load with simulated Hosts polling hostURL and
// the Guest asking guestURL, and returns the granted connects per second.
func (b *bench) replicaConnectRate(ctx context.Context, st *stack, hostURL, guestURL, name string) (float64, error) {
	load, err := startConnectLoad(ctx, st, strings.ReplaceAll("rep-"+name, "_", "-"), hostURL, guestURL, connectWorkers)
	if err != nil {
		return 0, err
	}
	defer load.stop()
	connect := load.connect
	res := closedLoop(ctx, connectWorkers, b.cfg.duration, connect)
	if err := b.phaseError(res, "closed-loop connects with "+name); err != nil {
		return 0, err
	}
	b.r.add("replicas", name+"_connect_p50", ms(percentile(res.latencies, 50)), "ms")
	b.log.Info("bench: replicas", "cms", name, "granted", res.ok, "delivered_to_hosts", load.delivered.Load())
	return res.rate(), nil
}
