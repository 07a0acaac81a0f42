package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestASessionCommandSetsItsRuntimeAndRefusesNegativeSettings(t *testing.T) {
	origGC, origProcs := debug.SetGCPercent(100), runtime.GOMAXPROCS(2)
	t.Cleanup(func() {
		debug.SetGCPercent(origGC)
		runtime.GOMAXPROCS(origProcs)
	})
	cases := []struct {
		name                     string
		conf                     sessionRuntime
		wantPercent, wantThreads int
		err                      string
	}{
		{"the defaults", defaultSessionRuntime(), guestGCPercent, guestMaxProcs, ""},
		{"zero leaves both to the environment", sessionRuntime{}, 100, 2, ""},
		{"a negative gc-percent", sessionRuntime{GCPercent: -1, MaxProcs: 1}, 100, 2, "gc-percent -1"},
		{"a negative gomaxprocs", sessionRuntime{GCPercent: 400, MaxProcs: -1}, 100, 2, "gomaxprocs -1"},
	}
	for _, tc := range cases {
		debug.SetGCPercent(100)
		runtime.GOMAXPROCS(2)
		err := tc.conf.applyRuntime()
		if got := debug.SetGCPercent(100); got != tc.wantPercent {
			t.Errorf("%s: the garbage collection target is %d, want %d", tc.name, got, tc.wantPercent)
		}
		if got := runtime.GOMAXPROCS(2); got != tc.wantThreads {
			t.Errorf("%s: GOMAXPROCS is %d, want %d", tc.name, got, tc.wantThreads)
		}
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
