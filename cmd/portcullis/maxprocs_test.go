package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaxProcsFor(t *testing.T) {
	for _, tc := range []struct {
		name         string
		perCPU, cpus int
		envSet       bool
		want         int
	}{
		{"the default on two CPUs", cmProcsPerCPU, 2, false, 4},
		{"one per CPU", 1, 8, false, 8},
		{"zero keeps Go's count", 0, 6, false, 6},
		{"a GOMAXPROCS environment variable wins", 3, 5, true, 5},
	} {
		if got := maxProcsFor(tc.perCPU, tc.cpus, tc.envSet); got != tc.want {
			t.Errorf("%s: maxProcsFor(%d, %d, %v) = %d, want %d", tc.name, tc.perCPU, tc.cpus, tc.envSet, got, tc.want)
		}
	}
}

// A CM with a negative gomaxprocs-per-cpu refuses to start, before it opens anything.
func TestTheCMRefusesANegativeProcsPerCPU(t *testing.T) {
	db := filepath.Join(t.TempDir(), "never.db")
	err := runCM(t.Context(), cmConfig{ProcsPerCPU: -1, Store: "sqlite:" + db})
	if err == nil || !strings.Contains(err.Error(), "gomaxprocs-per-cpu -1") {
		t.Fatalf("runCM with gomaxprocs-per-cpu -1 = %v, want it refused", err)
	}
	if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused CM created its store: %v", err)
	}
}
