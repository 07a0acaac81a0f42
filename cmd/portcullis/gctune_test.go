package main

import (
	"strings"
	"testing"
)

func TestGCPercentForTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name    string
		live    uint64
		ceiling int
		want    int
	}{
		{"nothing collected yet", 0, 400, 400},
		{"a small heap takes the ceiling", 32 * mib, 400, 400},
		{"the growth at the ceiling fits exactly", 64 * mib, 400, 400},
		{"a larger heap grows by the headroom", 128 * mib, 400, 200},
		{"a large heap falls to Go's default", 256 * mib, 400, 100},
		{"never below Go's default", 4096 * mib, 400, 100},
		{"a ceiling at Go's default stays", 64 * mib, 100, 100},
		{"a ceiling below Go's default stays", 4096 * mib, 50, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := gcPercentFor(c.live, c.ceiling, gcHeadroom); got != c.want {
				t.Fatalf("gcPercentFor(%d MiB, %d) = %d, want %d", c.live/mib, c.ceiling, got, c.want)
			}
		})
	}
}

// A CM with a negative gc-percent refuses to start, before it opens anything.
func TestTheCMRefusesANegativeGCPercent(t *testing.T) {
	err := runCM(t.Context(), cmConfig{GCPercent: -1, Store: "sqlite:" + t.TempDir() + "/never.db"})
	if err == nil || !strings.Contains(err.Error(), "gc-percent -1") {
		t.Fatalf("runCM with gc-percent -1 = %v, want it refused", err)
	}
}
