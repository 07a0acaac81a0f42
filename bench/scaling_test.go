package main

import (
	"fmt"
	"testing"
)

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int]string{1_000: "1k", 10_000: "10k", 100_000: "100k", 1_000_000: "1m", 1_500: "1500", 2_500_000: "2500k"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

// Every combination of user, host and outcome occurs in the scaling log, so that a combined
// filter measures the index, not a combination the generator never makes.
func TestScalingRecordsCombineEverything(t *testing.T) {
	seen := map[string]int{}
	rare := 0
	for i := range 10_000 {
		d := scalingRecord(i)
		if d.Subject == rareUser {
			rare++
			continue
		}
		seen[fmt.Sprint(d.Subject, d.HostName, d.Allow)]++
	}
	if want := len(scalingSubjects) * len(scalingHosts) * 2; len(seen) != want {
		t.Errorf("%d combinations of user, host and outcome, want %d: %v", len(seen), want, seen)
	}
	if rare < 2*100 {
		t.Errorf("%d records of the rare user in 10k, want two pages at least", rare)
	}
}
