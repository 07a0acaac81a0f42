package main

import (
	"testing"
	"time"
)

func TestFixedWarmUp(t *testing.T) {
	for _, tc := range []struct {
		phase, want time.Duration
	}{
		{10 * time.Second, time.Second},
		{30 * time.Second, 3 * time.Second},
		{2 * time.Second, time.Second},
		{500 * time.Millisecond, 500 * time.Millisecond}, // never longer than the phase
	} {
		if got := fixedWarmUp(tc.phase); got != tc.want {
			t.Errorf("fixedWarmUp(%v) = %v, want %v", tc.phase, got, tc.want)
		}
	}
}
