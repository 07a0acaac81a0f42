package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// opaDecisions is how many decisions the in-process OPA measurement times.
const opaDecisions = 5000

// measureOPA times Engine.Decide for the default policy on a typical allowed connect (alice,
// ops, MFA, to a production host), one decision at a time, and records p50 and p99.
func measureOPA(ctx context.Context, r *Report) error {
	e, err := policy.New(ctx)
	if err != nil {
		return err
	}
	in := sampleInput(time.Now())
	samples := make([]time.Duration, 0, opaDecisions)
	evals := make([]time.Duration, 0, opaDecisions)
	for range opaDecisions {
		start := time.Now()
		res, err := e.Decide(ctx, in)
		samples = append(samples, time.Since(start))
		if err != nil || !res.Decision.Allow {
			return fmt.Errorf("default policy refused the sample input: %v %v", res.Decision.Reasons, err)
		}
		evals = append(evals, time.Duration(res.EvalNS))
	}
	p50 := percentile(samples, 50)
	r.add("decisions", "opa_decide_p50", us(p50), "µs")
	r.add("decisions", "opa_decide_p99", us(percentile(samples, 99)), "µs")
	r.add("decisions", "opa_eval_only_p50", us(percentile(evals, 50)), "µs")
	r.target("OPA evaluation per decision p50", us(p50), Below, 100, "µs")
	return nil
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
