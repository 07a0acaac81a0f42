package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/internal/rolegen"
	"github.com/portcullis/portcullis/policy"
	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// opaSize is how much the opa section measures.
type opaSize struct {
	// decisions is how many decisions each policy is timed on.
	decisions int
	// hosts is the size of the generated fleet the requests name.
	hosts int
	// roles are the sizes of the generated role tables.
	roles []int
}

var (
	// opaFull is make bench's size: 10,000 hosts, up to 1,000 roles.
	opaFull = opaSize{decisions: 5000, hosts: 10000, roles: []int{10, 100, 1000}}
	// opaSmoke is a smoke pass's: does the harness work?
	opaSmoke = opaSize{decisions: 20, hosts: 100, roles: []int{10}}
)

// measureOPA times Engine.Decide, one decision at a time: the default policy on a typical
// allowed connect (alice, ops, MFA, to a production Host), a policy of one constant decision
// (the engine's own share) and one of a single allowing rule (the floor of any policy that
// checks the request) on the same input, then the default policy with
// generated role tables (rolegen: the default rules, 10 to 1,000 more roles of the same
// shapes) on varied requests for a fleet of generated tagged Hosts. It records p50 and p99 of
// each and, where /proc tells it, the CPU time per decision (the figure to trust on a loaded
// machine: it counts this process's work, not the waits for a CPU).
func measureOPA(ctx context.Context, r *Report, size opaSize) error {
	e, err := policy.New(ctx)
	if err != nil {
		return err
	}
	in := sampleInput(time.Now())
	d, err := timeDecisions(ctx, e, func(int) policy.Input { return in }, size.decisions)
	if err != nil {
		return err
	}
	if d.allowed != size.decisions {
		return fmt.Errorf("default policy refused the sample input")
	}
	r.add("decisions", "opa_decide_p50", us(d.p50), "µs")
	r.add("decisions", "opa_decide_p99", us(d.p99), "µs")
	r.add("decisions", "opa_eval_only_p50", us(d.evalP50), "µs")
	d.addCPU(r, "opa_decide_cpu")
	r.target("OPA evaluation per decision p50", us(d.p50), Below, 50, "µs")
	if err := measureFixedPolicies(ctx, r, in, size.decisions); err != nil {
		return err
	}
	authz, err := fs.ReadFile(defaultpolicy.Files(), "authz.rego")
	if err != nil {
		return err
	}
	hosts := rolegen.Hosts(size.hosts, 1)
	for _, n := range size.roles {
		if err := measureGenerated(ctx, r, authz, hosts, n, size.decisions); err != nil {
			return fmt.Errorf("%d roles: %w", n, err)
		}
	}
	return nil
}

// constantPolicy decides every request with one constant decision: timing it measures what
// the engine costs around any policy (input conversion, evaluation set-up, result decoding).
const constantPolicy = `package portcullis.authz

decision := {"allow": true, "reasons": ["always"], "obligations": {"max_duration_seconds": 60}}
`

// oneRulePolicy allows the sample input with a single rule of eleven expressions: the role
// looked up by group, its actions and host selectors, the environment's MFA demand, one
// sentence. It is the least a policy that checks who, where and how can cost in OPA's
// evaluator; the default policy, which also looks for every reason to refuse and works out
// every obligation, cannot be cheaper than it.
const oneRulePolicy = `package portcullis.authz

roles := {"ops": {"actions": {"connect"}, "hosts": [{"env": "prod"}, {"env": "staging"}], "max_duration_seconds": 28800}}

environments := {"prod": {"mfa": true, "min_encryption": "very_high"}}

decision := {"allow": true, "reasons": [msg], "obligations": {
	"max_duration_seconds": role.max_duration_seconds,
	"min_encryption": env.min_encryption,
	"channels": input.request.channels,
}} if {
	input.request.action == "connect"
	input.subject.id != ""
	some name in input.subject.groups
	role := roles[name]
	"connect" in role.actions
	some selector in role.hosts
	object.subset(input.host.tags, selector)
	env := environments[input.host.tags.env]
	env.mfa
	"mfa" in input.subject.amr
	msg := sprintf("group %s may connect to %s", [name, input.host.name])
}
`

// measureFixedPolicies times decisions of constantPolicy (the engine's own share) and of
// oneRulePolicy (the floor of a policy that checks anything) on in.
func measureFixedPolicies(ctx context.Context, r *Report, in policy.Input, decisions int) error {
	for _, p := range []struct{ name, src string }{{"opa_engine_only", constantPolicy}, {"opa_one_rule", oneRulePolicy}} {
		e, err := policy.New(ctx, policy.WithFS(fstest.MapFS{"authz.rego": {Data: []byte(p.src)}}))
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		d, err := timeDecisions(ctx, e, func(int) policy.Input { return in }, decisions)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if d.allowed != decisions {
			return fmt.Errorf("%s refused the sample input", p.name)
		}
		r.add("decisions", p.name+"_p50", us(d.p50), "µs")
		d.addCPU(r, p.name+"_cpu")
	}
	return nil
}

// measureGenerated times decisions of the default policy with n generated roles.
func measureGenerated(ctx context.Context, r *Report, authz []byte, hosts []rolegen.Host, n, decisions int) error {
	src, err := rolegen.Policy(authz, n)
	if err != nil {
		return err
	}
	e, err := policy.New(ctx, policy.WithFS(fstest.MapFS{"authz.rego": {Data: src}}))
	if err != nil {
		return err
	}
	reqs := rolegen.Requests(decisions, n, hosts, 1)
	d, err := timeDecisions(ctx, e, func(i int) policy.Input { return generatedInput(reqs[i]) }, decisions)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("opa_roles%d", n)
	r.add("decisions", name+"_p50", us(d.p50), "µs")
	r.add("decisions", name+"_p99", us(d.p99), "µs")
	r.add("decisions", name+"_allowed", 100*float64(d.allowed)/float64(decisions), "%")
	d.addCPU(r, name+"_cpu")
	return nil
}

// decisionTimes are what timeDecisions measured.
type decisionTimes struct {
	p50, p99, evalP50 time.Duration
	// cpu is the process's CPU time per decision; 0 where /proc cannot tell it.
	cpu     time.Duration
	allowed int
}

// addCPU records the CPU time per decision, when it was measured.
func (d decisionTimes) addCPU(r *Report, name string) {
	if d.cpu > 0 {
		r.add("decisions", name, us(d.cpu), "µs")
	}
}

// timeDecisions decides input(i) for i < n, one at a time.
func timeDecisions(ctx context.Context, e *policy.Engine, input func(int) policy.Input, n int) (decisionTimes, error) {
	var d decisionTimes
	for i := range n / 10 { // warm up, as a long-running CM is
		if _, err := e.Decide(ctx, input(i)); err != nil {
			return d, fmt.Errorf("decision %d: %w", i, err)
		}
	}
	samples := make([]time.Duration, 0, n)
	evals := make([]time.Duration, 0, n)
	cpu0, cpuErr := cpuTime(os.Getpid())
	for i := range n {
		in := input(i)
		start := time.Now()
		res, err := e.Decide(ctx, in)
		samples = append(samples, time.Since(start))
		if err != nil {
			return d, fmt.Errorf("decision %d: %w", i, err)
		}
		if res.Decision.Allow {
			d.allowed++
		}
		evals = append(evals, time.Duration(res.EvalNS))
	}
	// /proc counts CPU time in 10 ms ticks: below a second of it the figure would be noise.
	if cpu1, err := cpuTime(os.Getpid()); err == nil && cpuErr == nil && cpu1-cpu0 >= time.Second {
		d.cpu = (cpu1 - cpu0) / time.Duration(n)
	}
	d.p50, d.p99, d.evalP50 = percentile(samples, 50), percentile(samples, 99), percentile(evals, 50)
	return d, nil
}

// sampleInput is the policy input of alice (ops, signed in with MFA) connecting to a
// production Host, as the CM builds it.
func sampleInput(now time.Time) policy.Input {
	return policy.Input{
		Subject: policy.Subject{
			ID: "alice-sub", Name: "Alice", Email: "alice@example.com", IdP: "https://idp.example.com",
			Groups: []string{"ops"}, AMR: []string{"pwd", "otp", "mfa"}, AuthTime: now.Add(-time.Minute),
		},
		Host: policy.Host{
			ID: "h_1", Name: "db-1", Tenant: "acme", OS: "linux", Tags: map[string]string{"env": "prod", "team": "data"},
			Online: true, LastSeen: now,
		},
		Request: policy.Request{Action: "connect", Channels: []string{"exec"}, Encryption: "very_high"},
		Context: policy.Context{Time: now, GuestAddr: "127.0.0.1",
			Relays: []policy.RelayCandidate{{ID: "cs-eu-1", Region: "eu-north", Owner: "vendor"}}},
	}
}

// generatedInput is the input of a generated request, as the CM builds it.
func generatedInput(q rolegen.Request) policy.Input {
	at, _ := time.Parse(time.RFC3339, q.Time)
	amr := []string{"pwd"}
	if q.MFA {
		amr = append(amr, "mfa")
	}
	return policy.Input{
		Subject: policy.Subject{ID: "user@example.com", Groups: q.Groups, AMR: amr},
		Host:    policy.Host{Name: q.Host.Name, Tenant: q.Host.Tenant, Tags: q.Host.Tags, Online: true},
		Request: policy.Request{Action: policy.ActionConnect, Channels: q.Channels, Encryption: q.Encryption},
		Context: policy.Context{Time: at, Relays: []policy.RelayCandidate{{ID: "cs-eu-1", Region: "eu-north", Owner: "vendor"},
			{ID: "cs-globex-1", Region: "eu-west", Owner: "globex", Private: true}}},
	}
}
