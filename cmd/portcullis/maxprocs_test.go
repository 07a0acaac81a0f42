package main

import "testing"

func TestMaxProcsFor(t *testing.T) {
	for _, tc := range []struct {
		name         string
		perCPU, cpus int
		envSet       bool
		want         int
	}{
		{"the default on two CPUs", cmProcsPerCPU, 2, false, 4},
		{"one per CPU", 1, 8, false, 8},
		{"zero keeps Go's count", 0, 6, false, 6},
		{"a GOMAXPROCS environment variable wins", 3, 5, true, 5},
	} {
		if got := maxProcsFor(tc.perCPU, tc.cpus, tc.envSet); got != tc.want {
			t.Errorf("%s: maxProcsFor(%d, %d, %v) = %d, want %d", tc.name, tc.perCPU, tc.cpus, tc.envSet, got, tc.want)
		}
	}
}
