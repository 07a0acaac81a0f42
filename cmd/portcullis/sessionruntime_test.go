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
		conf                     guestConfig
		wantPercent, wantThreads int
		err                      string
	}{
		{"the defaults", guestConfig{GCPercent: guestGCPercent, MaxProcs: guestMaxProcs}, guestGCPercent, guestMaxProcs, ""},
		{"zero leaves both to the environment", guestConfig{}, 100, 2, ""},
		{"a negative gc-percent", guestConfig{GCPercent: -1, MaxProcs: 1}, 100, 2, "gc-percent -1"},
		{"a negative gomaxprocs", guestConfig{GCPercent: 400, MaxProcs: -1}, 100, 2, "gomaxprocs -1"},
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
