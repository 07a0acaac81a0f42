package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/pflag"
)

// The CM runs more Go processors (GOMAXPROCS) than its machine has CPUs. Its store is written by
// one committer at a time, which ends each transaction with a disk sync: a system call of about
// half a millisecond, long enough for the Go runtime to hand the committer's processor to
// another goroutine. With one processor per CPU, all of them busy with requests, the committer
// then waits in the global run queue behind them, still holding the write turn that every
// connect's commit waits for: at 500 connects per second on two CPUs the store's writer was busy
// four fifths of the time, most of it in such waits. With twice as many processors as CPUs a
// processor is free more often when the sync returns, and the operating system shares the CPUs
// among the threads. make bench's decisions section on two CPUs, at 500 connects per second:
// the share answered within 20 ms rose from 75–92 % to 92–97 % and the p50 fell from 9–13 to
// 6–9 ms (section runs; docs/connect-capacity.md); four times as many processors lowered the
// closed-loop rate.

// cmProcsPerCPU is the CM's default count of Go processors per CPU.
const cmProcsPerCPU = 2

// addProcsPerCPUFlag adds --gomaxprocs-per-cpu.
func addProcsPerCPUFlag(f *pflag.FlagSet) {
	f.Int("gomaxprocs-per-cpu", cmProcsPerCPU, "Go processors (GOMAXPROCS) per CPU that Go finds (the CPUs, or the container's CPU limit): more than one lets the store's committer, back from its disk sync, run at once rather than wait behind busy requests (0, or a GOMAXPROCS environment variable, keeps Go's own count)")
}

// checkProcsPerCPU refuses a negative gomaxprocs-per-cpu.
func checkProcsPerCPU(n int) error {
	if n < 0 {
		return fmt.Errorf("gomaxprocs-per-cpu %d: want a positive number, or 0 for the GOMAXPROCS environment variable or Go's default", n)
	}
	return nil
}

// maxProcsFor is the GOMAXPROCS for perCPU processors per CPU, where Go found cpus; an explicit
// GOMAXPROCS environment variable (envSet) or a perCPU of 0 keeps cpus.
func maxProcsFor(perCPU, cpus int, envSet bool) int {
	if perCPU == 0 || envSet {
		return cpus
	}
	return perCPU * cpus
}

// applyProcsPerCPU sets GOMAXPROCS for perCPU processors per CPU and returns it.
func applyProcsPerCPU(perCPU int) int {
	runtime.SetDefaultGOMAXPROCS() // Go's own count: the environment variable, else the CPUs or the container's limit
	cpus := runtime.GOMAXPROCS(0)
	n := maxProcsFor(perCPU, cpus, os.Getenv("GOMAXPROCS") != "")
	if n != cpus {
		runtime.GOMAXPROCS(n)
	}
	return n
}
