package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// statFields returns the fields of a /proc/PID/stat line after the command name (field 3, the
// state, is the first); the name may hold spaces and parentheses.
func statFields(stat string) ([]string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 15 {
		return nil, fmt.Errorf("malformed /proc stat: %q", stat)
	}
	return f, nil
}

// parseStatTree reads the parent pid (field 4) and the CPU time of the process together with
// its children that it has waited for (fields 14 to 17: utime, stime, cutime, cstime), so
// that a forked child that already exited (socat's, sshd's) still counts.
func parseStatTree(stat string) (ppid int, cpu time.Duration, err error) {
	f, err := statFields(stat)
	if err != nil {
		return 0, 0, err
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return 0, 0, fmt.Errorf("malformed /proc stat: %w", err)
	}
	var ticks int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("malformed /proc stat: %w", err)
		}
		ticks += v
	}
	return ppid, time.Duration(ticks) * time.Second / clockTicks, nil
}

// treeCPU returns the CPU time used so far by the processes roots and all their descendants
// (children they waited for included): what a relay path costs, however many processes it
// forks (sshd forks one per connection, ssh -J runs a second ssh).
func treeCPU(roots ...int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("process tree: %w", err)
	}
	parent := map[int]int{}
	cpu := map[int]time.Duration{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // it exited meanwhile; its parent's cutime counts it once it is waited for
		}
		if parent[pid], cpu[pid], err = parseStatTree(string(b)); err != nil {
			return 0, err
		}
	}
	in := map[int]bool{}
	for _, r := range roots {
		if _, ok := cpu[r]; !ok {
			return 0, fmt.Errorf("process tree: process %d is gone", r)
		}
		in[r] = true
	}
	var total time.Duration
	for pid := range cpu {
		for p := pid; p > 1; p = parent[p] {
			if in[p] {
				total += cpu[pid]
				break
			}
		}
	}
	return total, nil
}
