package main

import (
	"context"
	"testing"
)

// The machine section records both figures, positive, under the name of the moment.
func TestMeasureMachineRecordsItsSpeed(t *testing.T) {
	r := &Report{}
	if err := measureMachine(context.Background(), r, "start", machineSmoke); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range r.Figures {
		got[f.Section+"/"+f.Name] = f.Value
	}
	for _, name := range []string{"machine/sha256_one_thread_start", "machine/process_round_trip_start"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want a positive figure (figures: %v)", name, got[name], got)
		}
	}
}

// A round trip count of zero is refused rather than divided by.
func TestPipeRoundTripRefusesNoTrips(t *testing.T) {
	if _, err := pipeRoundTrip(context.Background(), 0); err == nil {
		t.Fatal("zero round trips measured without an error")
	}
}
