package main

import (
	"os"
	"testing"
	"time"
)

func TestParseStatTree(t *testing.T) {
	tests := []struct {
		stat string
		ppid int
		cpu  time.Duration
		ok   bool
	}{
		// utime 250, stime 75, cutime 20, cstime 5 ticks: 3.5 s with the waited-for children.
		{"1234 (sshd (x) y) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 75 20 5 20 0 12 0 100 0 0", 77, 3500 * time.Millisecond, true},
		{"", 0, 0, false},
		{"1234 no parens", 0, 0, false},
		{"1 (x) S 1 2", 0, 0, false},
		{"1 (x) S x 1 1 0 -1 0 0 0 0 0 1 1 1 1", 0, 0, false},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 z 1", 0, 0, false},
	}
	for _, tt := range tests {
		ppid, cpu, err := parseStatTree(tt.stat)
		if (err == nil) != tt.ok || ppid != tt.ppid || cpu != tt.cpu {
			t.Errorf("parseStatTree(%q) = %d, %v, %v; want %d, %v, ok %v", tt.stat, ppid, cpu, err, tt.ppid, tt.cpu, tt.ok)
		}
	}
}

func TestTreeCPUCountsTheSuiteAndRefusesAGoneProcess(t *testing.T) {
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) { // spend some CPU so that the tick counter moves
	}
	cpu, err := treeCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("treeCPU(self) = %v, %v; want a positive time", cpu, err)
	}
	if _, err := treeCPU(1 << 30); err == nil {
		t.Fatal("treeCPU of a process that does not exist succeeded")
	}
}
