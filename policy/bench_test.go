package policy

import (
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/portcullis/portcullis/internal/rolegen"
)

// Run with -cpu 1: cpu-ns/op is the process's CPU time per decision (GC included), the figure
// to compare on a loaded machine, where ns/op measures the waits for a CPU too.

// BenchmarkDecide measures one decision of the default policy: alice connecting to db-1.
func BenchmarkDecide(b *testing.B) {
	benchmarkDecide(b, newEngine(b))
}

// BenchmarkDecideOriginalPolicy is BenchmarkDecide with the default policy as it was before
// its rules were rewritten for speed (testdata/authz-v0), for comparison.
func BenchmarkDecideOriginalPolicy(b *testing.B) {
	src, err := os.ReadFile(originalPolicy)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkDecide(b, newEngine(b, WithFS(fstest.MapFS{"authz.rego": {Data: src}})))
}

// BenchmarkDecideConstantPolicy is BenchmarkDecide with a policy whose decision is one
// constant: what the engine costs around any policy (input conversion, evaluation set-up,
// result encoding and decoding).
func BenchmarkDecideConstantPolicy(b *testing.B) {
	src := []byte(`package portcullis.authz

decision := {"allow": true, "reasons": ["always"], "obligations": {"max_duration_seconds": 60}}
`)
	benchmarkDecide(b, newEngine(b, WithFS(fstest.MapFS{"authz.rego": {Data: src}})))
}

func benchmarkDecide(b *testing.B, e *Engine) {
	in := connect(alice(), db1(), copenhagen(b, 10, 0))
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		res, err := e.Decide(b.Context(), in)
		if err != nil || !res.Decision.Allow {
			b.Fatalf("Decide = %+v, %v", res.Decision, err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkDecideGeneratedRoles measures decisions of the default rules with generated role
// tables on varied requests for 10,000 generated Hosts: the time must not grow with roles.
func BenchmarkDecideGeneratedRoles(b *testing.B) {
	authz, err := fs2bytes("authz.rego")
	if err != nil {
		b.Fatal(err)
	}
	hosts := rolegen.Hosts(10000, 1)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n, "roles"), func(b *testing.B) {
			src, err := rolegen.Policy(authz, n)
			if err != nil {
				b.Fatal(err)
			}
			e := newEngine(b, WithFS(fstest.MapFS{"authz.rego": {Data: src}}))
			reqs := rolegen.Requests(1000, n, hosts, 1)
			ins := make([]Input, len(reqs))
			for i, q := range reqs {
				ins[i] = generatedInput(q)
			}
			b.ReportAllocs()
			cpu, i := processCPU(), 0
			for b.Loop() {
				if _, err := e.Decide(b.Context(), ins[i%len(ins)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkDecideParallel measures decisions from many goroutines sharing one Engine.
func BenchmarkDecideParallel(b *testing.B) {
	e := newEngine(b)
	in := connect(bob(), web1(), copenhagen(b, 22, 0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := e.Decide(b.Context(), in)
			if err != nil || res.Decision.Allow {
				b.Errorf("Decide = %+v, %v", res.Decision, err)
				return
			}
		}
	})
}

// reportCPU reports the CPU time per iteration since start, where it can be measured.
func reportCPU(b *testing.B, start time.Duration) {
	if end := processCPU(); start > 0 && end > start {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkMask measures the default mask rule on a connect's record (e-mail and name erased,
// address cut to its network), as the CM masks every record before it commits it.
func BenchmarkMask(b *testing.B) {
	e := newEngine(b)
	res := decidePersonal(b, e)
	ev := Event{DecisionID: "dec-1", Path: DecisionPath, Input: res.Input, Result: res.Raw}.WithValuesOf(res)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		out, err := e.Mask(b.Context(), ev)
		if err != nil || len(out.Erased) != 2 || len(out.Masked) != 1 {
			b.Fatalf("Mask = erased %v, masked %v, %v", out.Erased, out.Masked, err)
		}
	}
	reportCPU(b, cpu)
}
