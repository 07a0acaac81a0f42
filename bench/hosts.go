package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// Shape of the hosts section.
const (
	// idleHostsTarget is how many online Hosts one CM must hold.
	idleHostsTarget = 50_000
	// idleSteadyTimeout bounds the wait for every simulated Host's long-poll to wait at the CM.
	idleSteadyTimeout = 5 * time.Minute
	// idleConnectTimeout bounds the wait for a connect's request to reach its idle Host.
	idleConnectTimeout = 15 * time.Second
)

// Linearity of the CM's memory in idle Hosts.
const (
	// idleSettle is the pause before the CM's memory is read at each fleet size (at most half
	// the idle phase, for the smoke pass).
	idleSettle = 3 * time.Second
	// linearTolerance is how far the memory each Host adds in the upper half of the fleet may
	// differ from what each added in the lower half (as a fraction) for the growth to count as
	// linear, so that it may be extrapolated to idleHostsTarget.
	linearTolerance = 0.2
)

// idleHostCount is how many simulated Hosts the section holds, and whether the open-file
// limit cut it below the asked count (the CM and this process each need one descriptor per
// Host).
func (b *bench) idleHostCount() (n int, capped bool) {
	n = b.cfg.hosts
	if room := b.fileLimit - fdHeadroom; n > room {
		b.log.Warn("bench: the open-file limit holds fewer idle Hosts than asked", "asked", n, "held", room, "limit", b.fileLimit)
		return room, true
	}
	return n, false
}

// fleetSteps are the fleet sizes at which the CM's memory is read: a quarter, half and all
// of n (fewer when n is tiny).
func fleetSteps(n int) []int {
	var steps []int
	for _, k := range []int{n / 4, n / 2, n} {
		if k > 0 && (len(steps) == 0 || k > steps[len(steps)-1]) {
			steps = append(steps, k)
		}
	}
	return steps
}

// measureHosts has one CM hold many simulated online Hosts, each idle in its long-poll on its
// own TLS connection (HTTP/1.1, as the Host agent polls), and reports the CM's memory at a
// quarter, half and all of the fleet, its memory per Host and CPU per Host per minute, then
// shows that a connect to one of them still reaches it. When the open-file limit holds fewer
// Hosts than asked, the table names the limit beside the count.
func (b *bench) measureHosts(ctx context.Context) error {
	n, capped := b.idleHostCount()
	if n <= 0 {
		return fmt.Errorf("the open-file limit %d leaves no room for idle Hosts", b.fileLimit)
	}
	st, err := startStack(ctx, stackSpec{bin: b.cfg.bin, dir: filepath.Join(b.dir, "hosts"), profile: b.cfg.profile != ""})
	if err != nil {
		return err
	}
	defer st.stop()
	hosts, err := seedIdleHosts(ctx, b.log, st, n)
	if err != nil {
		return err
	}
	pool, err := certs.LoadCertPool(st.c.CAFile)
	if err != nil {
		return err
	}
	fleet, err := newIdleFleet(st.c.CMURL, pool)
	if err != nil {
		return err
	}
	defer fleet.close()

	pid := st.c.CM().Pid()
	rss0, err := rssBytes(pid)
	if err != nil {
		return err
	}
	others, err := cmLongPolls(ctx, st) // the relay's
	if err != nil {
		return err
	}
	growth, perConnect, err := b.growFleet(ctx, st, fleet, hosts, others, rss0)
	if err != nil {
		return err
	}
	idleCPU := startCPU(pid)
	profiled := b.profileIdle(st)
	if !waitOrEnd(ctx, b.cfg.hostsIdle) {
		return ctx.Err()
	}
	profiled()
	perHostIdle, err := idleCPU.perOp(int64(n))
	if err != nil {
		return err
	}
	rss, err := rssBytes(pid)
	if err != nil {
		return err
	}
	held, err := cmLongPolls(ctx, st)
	if err != nil {
		return err
	}
	held -= others
	perMinute := time.Duration(float64(perHostIdle) * float64(time.Minute) / float64(b.cfg.hostsIdle))
	r := b.r
	r.add("hosts", "idle_hosts", float64(n), "hosts")
	r.add("hosts", "open_file_limit", float64(b.fileLimit), "descriptors")
	r.add("hosts", "long_polls_held", float64(held), "long-polls")
	r.add("hosts", "cm_rss_per_host", float64(rss-rss0)/float64(n)/1024, "KiB")
	r.add("hosts", "cm_rss", float64(rss)/(1<<20), "MiB")
	r.add("hosts", "cm_cpu_per_host_per_min", us(perMinute), "µs")
	r.add("hosts", "cm_cpu_per_host_connect", us(perConnect), "µs")
	r.add("hosts", "reconnects", float64(fleet.reconnects.Load()), "connections")
	b.reportGrowth(growth, rss0)
	name := "online Hosts held by one CM"
	if capped {
		name = fmt.Sprintf("online Hosts held by one CM (all that the open-file limit of %d allows)", b.fileLimit)
	}
	r.target(name, float64(held), AtLeast, idleHostsTarget, "hosts")
	// Last, so that the figures above stand when a loaded machine's store refuses the connect.
	toHost, err := connectToIdleHost(ctx, st, fleet, hosts[n/2].name)
	if err != nil {
		return err
	}
	r.add("hosts", "connect_to_idle_host", ms(toHost), "ms")
	return nil
}

// fleetSize is the CM's resident memory holding a number of idle Hosts.
type fleetSize struct {
	hosts int
	rss   int64
}

// growFleet connects the idle Hosts in fleetSteps, reading the CM's memory once each step's
// long-polls wait and have settled; it returns the memory at each step and the CM's CPU per
// Host connected.
func (b *bench) growFleet(ctx context.Context, st *stack, fleet *idleFleet, hosts []seededHost, others int, rss0 int64) ([]fleetSize, time.Duration, error) {
	pid := st.c.CM().Pid()
	var growth []fleetSize
	var connectCPU time.Duration
	started := 0
	for _, k := range fleetSteps(len(hosts)) {
		cpu := startCPU(pid)
		if err := fleet.start(ctx, hosts[started:k]); err != nil {
			return nil, 0, err
		}
		started = k
		if err := waitLongPolls(ctx, st, others+k); err != nil {
			return nil, 0, err
		}
		spent, err := cpu.perOp(1)
		if err != nil {
			return nil, 0, err
		}
		connectCPU += spent
		if !waitOrEnd(ctx, min(idleSettle, b.cfg.hostsIdle/2)) {
			return nil, 0, ctx.Err()
		}
		rss, err := rssBytes(pid)
		if err != nil {
			return nil, 0, err
		}
		growth = append(growth, fleetSize{hosts: k, rss: rss})
	}
	return growth, connectCPU / time.Duration(len(hosts)), nil
}

// reportGrowth reports the CM's memory per Host at each fleet size and, when the memory each
// Host added was the same in the lower and upper half of the fleet (within linearTolerance),
// the memory idleHostsTarget Hosts would take, extrapolated; otherwise it says it is not
// linear and extrapolates nothing.
func (b *bench) reportGrowth(growth []fleetSize, rss0 int64) {
	for _, g := range growth {
		b.r.add("hosts", fmt.Sprintf("cm_rss_per_host_at_%d", g.hosts), float64(g.rss-rss0)/float64(g.hosts)/1024, "KiB")
	}
	if len(growth) < 3 {
		return
	}
	lo, mid, hi := growth[0], growth[1], growth[2]
	lower := float64(mid.rss-lo.rss) / float64(mid.hosts-lo.hosts)
	upper := float64(hi.rss-mid.rss) / float64(hi.hosts-mid.hosts)
	if lower <= 0 || math.Abs(upper-lower)/lower > linearTolerance {
		b.log.Warn("bench: the CM's memory does not grow linearly in idle Hosts; not extrapolated", "per_host_lower_half", lower, "per_host_upper_half", upper)
		b.r.add("hosts", "cm_rss_linear", 0, "bool")
		return
	}
	b.r.add("hosts", "cm_rss_linear", 1, "bool")
	perHost := float64(hi.rss-lo.rss) / float64(hi.hosts-lo.hosts)
	b.r.add("hosts", fmt.Sprintf("cm_rss_extrapolated_to_%d", idleHostsTarget), (float64(lo.rss)+perHost*float64(idleHostsTarget-lo.hosts))/(1<<20), "MiB")
}

// waitLongPolls waits until the CM holds at least n long-polls.
func waitLongPolls(ctx context.Context, st *stack, n int) error {
	deadline := time.Now().Add(idleSteadyTimeout)
	for {
		held, err := cmLongPolls(ctx, st)
		if err == nil && held >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the CM holds %d long-polls after %v, want %d (last error: %v)", held, idleSteadyTimeout, n, err)
		}
		if !waitOrEnd(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// cmLongPolls reads the CM's portcullis_cm_long_polls metric.
func cmLongPolls(ctx context.Context, st *stack) (int, error) {
	m, err := scrapeCM(ctx, st)
	if err != nil {
		return 0, err
	}
	v, err := sample(m, "portcullis_cm_long_polls")
	return int(v), err
}

// connectToIdleHost has the signed-in user connect to the idle Host named host and returns
// the time until the request reached the Host's waiting long-poll.
func connectToIdleHost(ctx context.Context, st *stack, fleet *idleFleet, host string) (time.Duration, error) {
	_, key, err := newKey()
	if err != nil {
		return 0, err
	}
	body := api.ConnectRequest{Host: host, Channels: []string{"exec"}, Encryption: access.LevelVeryHigh, PublicKey: key}
	sent := time.Now()
	var resp api.ConnectResponse
	if err := api.Call(ctx, st.user.Client, http.MethodPost, st.c.CMURL+api.PathConnect, st.user.IDToken, body, &resp); err != nil {
		return 0, fmt.Errorf("connect to idle Host %s: %w", host, err)
	}
	timeout := time.NewTimer(idleConnectTimeout)
	defer timeout.Stop()
	for {
		select {
		case d := <-fleet.got:
			for _, q := range d.reqs {
				if d.host == host && q.SessionID == resp.SessionID && !q.Kill {
					return d.at.Sub(sent), nil
				}
			}
		case <-timeout.C:
			return 0, fmt.Errorf("the request of session %s did not reach idle Host %s within %v", resp.SessionID, host, idleConnectTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// profileIdle saves a CPU profile of the CM holding its idle Hosts, and a heap profile when
// the returned func is called, when profiling is on.
func (b *bench) profileIdle(st *stack) (done func()) {
	if b.cfg.profile == "" || st.pprof == "" {
		return func() {}
	}
	errs := make(chan error, 1)
	go func() {
		errs <- fetchProfile(st.pprof, filepath.Join(b.cfg.profile, "cm-idle-hosts.pprof"), b.cfg.hostsIdle-time.Second)
	}()
	return func() {
		if err := <-errs; err != nil {
			b.log.Warn("bench: profile", "phase", "idle hosts", "err", err)
		}
		if err := fetchURL("http://"+st.pprof+"/debug/pprof/heap", filepath.Join(b.cfg.profile, "cm-idle-hosts-heap.pprof")); err != nil {
			b.log.Warn("bench: heap profile", "phase", "idle hosts", "err", err)
		}
	}
}
