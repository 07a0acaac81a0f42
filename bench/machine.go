package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// machineSize is how much the machine section measures.
type machineSize struct {
	// hashBytes is how many bytes one thread hashes (SHA-256).
	hashBytes int
	// roundTrips is how many single bytes travel to a child process and back.
	roundTrips int
}

var (
	// machineFull is make bench's size: under two seconds in all (a fifth of a second of
	// hashing, 20,000 round trips of 20–70 µs).
	machineFull = machineSize{hashBytes: 256 << 20, roundTrips: 20000}
	// machineSmoke is a smoke pass's.
	machineSmoke = machineSize{hashBytes: 1 << 20, roundTrips: 100}
)

// measureMachine records how fast this machine runs at the moment (when: "start" or "end" of
// the run), so that a reader can tell a slow phase of a virtual machine from a slow change:
// one thread's SHA-256 rate (plain CPU speed) and the round trip of one byte to a child process
// and back through pipes, two wake-ups of a sleeping process, which is what each hand-over
// between a relayed session's processes costs and what a busy hypervisor slows most.
func measureMachine(ctx context.Context, r *Report, when string, size machineSize) error {
	rate := hashRate(size.hashBytes)
	trip, err := pipeRoundTrip(ctx, size.roundTrips)
	if err != nil {
		return err
	}
	r.add("machine", "sha256_one_thread_"+when, rate, "MB/s")
	r.add("machine", "process_round_trip_"+when, us(trip), "µs")
	return nil
}

// hashRate hashes n bytes on one thread and returns the rate in MB/s.
func hashRate(n int) float64 {
	block := make([]byte, 1<<20)
	h := sha256.New()
	start := time.Now()
	for left := n; left > 0; left -= len(block) {
		h.Write(block[:min(left, len(block))])
	}
	h.Sum(nil)
	return float64(n) / 1e6 / time.Since(start).Seconds()
}

// pipeRoundTrip sends one byte at a time to cat and reads it back, trips times, and returns the
// mean round trip.
func pipeRoundTrip(ctx context.Context, trips int) (time.Duration, error) {
	if trips <= 0 {
		return 0, errors.New("round trips: want at least one")
	}
	cmd := exec.CommandContext(ctx, "cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, fmt.Errorf("round trips: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("round trips: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("round trips: start cat: %w", err)
	}
	defer func() { _ = cmd.Wait() }()
	defer in.Close()
	b := []byte{'x'}
	start := time.Now()
	for range trips {
		if _, err := in.Write(b); err != nil {
			return 0, fmt.Errorf("round trips: write: %w", err)
		}
		if _, err := io.ReadFull(out, b); err != nil {
			return 0, fmt.Errorf("round trips: read: %w", err)
		}
	}
	return time.Since(start) / time.Duration(trips), nil
}
