package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The CM's garbage collection target follows its live heap. A connect allocates much that
// does not stay live (the policy evaluation most): its live heap is small (8–17 MB under the
// bench's connect load), so with Go's target of 100 it collects several times a second at a
// high rate, and a higher gc-percent collects less often;
// but a CM holding tens of thousands of Hosts has a large live heap, where a high target would
// hold several times that much garbage. So the target is as high as gc-percent while the
// heap's growth over what is live stays within gcHeadroom, and lower (never below Go's 100)
// above (cmGCPercent is the default ceiling).

const (
	// gcHeadroom bounds the heap's growth over what is live that the CM's target allows,
	// once the live heap is large enough for gc-percent to exceed it.
	gcHeadroom = 256 << 20
	// gcFloor is the lowest target the CM tunes to: Go's default.
	gcFloor = 100
	// gcTuneEvery is how often the CM tunes its target to its live heap.
	gcTuneEvery = 5 * time.Second
	// liveHeapMetric is the runtime's live heap as of the last collection.
	liveHeapMetric = "/gc/heap/live:bytes"
)

// gcPercentFor is the target for a live heap of live bytes: ceiling while the growth it
// allows fits in headroom, else what fits (not below gcFloor, nor above ceiling).
func gcPercentFor(live uint64, ceiling int, headroom uint64) int {
	if live == 0 || ceiling <= gcFloor {
		return ceiling
	}
	fits := headroom * 100 / live
	return int(max(min(fits, uint64(ceiling)), gcFloor))
}

// tuneGC sets the garbage collection target for the live heap every gcTuneEvery until ctx
// ends; a ceiling of 0 leaves the target to GOGC, and one at or below gcFloor is set once (the
// live heap cannot change it).
func tuneGC(ctx context.Context, ceiling int) {
	if ceiling <= gcFloor {
		applyGCPercent(ceiling)
		return
	}
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	tune := func() {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		debug.SetGCPercent(gcPercentFor(live, ceiling, gcHeadroom))
	}
	tune()
	go func() {
		t := time.NewTicker(gcTuneEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				tune()
			}
		}
	}()
}
