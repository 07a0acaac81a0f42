package policy

import "testing"

// BenchmarkDecide measures one decision of the default policy: alice connecting to db-1.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b)
	in := connect(alice(), db1(), copenhagen(b, 10, 0))
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Decide(b.Context(), in)
		if err != nil || !res.Decision.Allow {
			b.Fatalf("Decide = %+v, %v", res.Decision, err)
		}
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
