package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestASessionCommandSetsItsGCPercentAndRefusesANegativeOne(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	cases := []struct {
		percent, want int
		err           string
	}{
		{percent: guestGCPercent, want: guestGCPercent},
		{percent: 0, want: 100}, // left to GOGC
		{percent: -1, want: 100, err: "gc-percent -1"},
	}
	for _, tc := range cases {
		debug.SetGCPercent(100)
		err := guestConfig{GCPercent: tc.percent}.applyGCPercent()
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("gc-percent %d: the target is %d, want %d", tc.percent, got, tc.want)
		}
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("gc-percent %d: error %v, want %q", tc.percent, err, tc.err)
		}
	}
}
