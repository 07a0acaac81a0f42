package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/portcullis/portcullis/internal/squidtest"
)

// measureSetup times `portcullis exec HOST -- true` (alice, signed in already) over TCP and
// over the HTTP fallback through each of httpProxies, OpenSSH's `ssh HOST.portcullis true`
// through `portcullis proxy` (the block `portcullis config ssh` prints) and
// `ssh -J JUMP TARGET true`, runs of each interleaved so that all see the same machine load,
// and records p50, p95 and their ratios. dir holds the OpenSSH client's files.
func measureSetup(ctx context.Context, r *Report, st *stack, o *openSSH, dir string, runs int) error {
	if o == nil {
		return errors.New("OpenSSH daemons did not start")
	}
	viaProxy, err := startPortcullisSSH(ctx, st, dir)
	if err != nil {
		return err
	}
	defer viaProxy.stop()
	proxies := map[string]*squidtest.Proxy{}
	for _, p := range httpProxies {
		proxy, err := startHTTPProxy(st, p.name)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		defer proxy.Stop()
		proxies[p.name] = proxy
	}
	var pc, cs, ssh []time.Duration
	overHTTP := map[string][]time.Duration{}
	for i := range runs {
		for name, proxy := range proxies {
			args := append(append([]string{"exec"}, httpOnly...), hostName, "--", "true")
			d, err := timeCommand(withHTTPProxy(st.c.Guest(ctx, st.user, args...), proxy))
			if err != nil {
				return fmt.Errorf("portcullis exec over HTTP through %s, run %d: %w", name, i+1, err)
			}
			overHTTP[name] = append(overHTTP[name], d)
		}
		d, err := timeCommand(st.c.Guest(ctx, st.user, "exec", hostName, "--", "true"))
		if err != nil {
			return fmt.Errorf("portcullis exec, run %d: %w", i+1, err)
		}
		pc = append(pc, d)
		d, err = timeCommand(viaProxy.command(ctx, "true"))
		if err != nil {
			return fmt.Errorf("ssh through portcullis proxy, run %d: %w", i+1, err)
		}
		cs = append(cs, d)
		d, err = timeCommand(o.command(ctx, nil, "true"))
		if err != nil {
			return fmt.Errorf("ssh -J, run %d: %w", i+1, err)
		}
		ssh = append(ssh, d)
	}
	cs50 := percentile(cs, 50)
	r.add("setup", "portcullis_config_ssh_p50", ms(cs50), "ms")
	r.add("setup", "portcullis_config_ssh_p95", ms(percentile(cs, 95)), "ms")
	pc50, pc95 := percentile(pc, 50), percentile(pc, 95)
	ssh50, ssh95 := percentile(ssh, 50), percentile(ssh, 95)
	r.add("setup", "portcullis_exec_p50", ms(pc50), "ms")
	r.add("setup", "portcullis_exec_p95", ms(pc95), "ms")
	r.add("setup", "ssh_jump_p50", ms(ssh50), "ms")
	r.add("setup", "ssh_jump_p95", ms(ssh95), "ms")
	for _, p := range httpProxies {
		name := "portcullis_exec_http_" + p.name
		d50 := percentile(overHTTP[p.name], 50)
		r.add("setup", name+"_p50", ms(d50), "ms")
		vsTCP := r.ratio("setup", name+"/portcullis_exec_p50", ms(d50), ms(pc50))
		r.target("exec set-up p50 over HTTP through "+p.name+" vs the TCP path", vsTCP, AtMost, 2, "x")
	}
	p50 := r.ratio("setup", "portcullis/ssh_jump_p50", ms(pc50), ms(ssh50))
	r.ratio("setup", "portcullis/ssh_jump_p95", ms(pc95), ms(ssh95))
	r.target("exec set-up time p50 vs ssh -J", p50, AtMost, 0.1, "x")
	viaProxy50 := r.ratio("setup", "portcullis_config_ssh/ssh_jump_p50", ms(cs50), ms(percentile(ssh, 50)))
	r.target("OpenSSH through portcullis proxy set-up p50 vs ssh -J", viaProxy50, AtMost, 0.2, "x")
	return nil
}

// timeCommand runs cmd to completion and returns its wall time; a failure includes its output.
func timeCommand(cmd *exec.Cmd) (time.Duration, error) {
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", cmd.String(), err, out)
	}
	return d, nil
}
