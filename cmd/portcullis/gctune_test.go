package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGCPercentForTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name    string
		live    uint64
		ceiling int
		want    int
	}{
		{"nothing collected yet", 0, 400, 400},
		{"a small heap takes the ceiling", 32 * mib, 400, 400},
		{"the growth at the ceiling fits exactly", 64 * mib, 400, 400},
		{"a larger heap grows by the headroom", 128 * mib, 400, 200},
		{"a large heap falls to Go's default", 256 * mib, 400, 100},
		{"never below Go's default", 4096 * mib, 400, 100},
		{"a ceiling at Go's default stays", 64 * mib, 100, 100},
		{"a ceiling below Go's default stays", 4096 * mib, 50, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := gcPercentFor(c.live, c.ceiling, gcHeadroom); got != c.want {
				t.Fatalf("gcPercentFor(%d MiB, %d) = %d, want %d", c.live/mib, c.ceiling, got, c.want)
			}
		})
	}
}

// A CM with a negative gc-percent or gomaxprocs-per-cpu refuses to start, before it opens
// anything.
func TestTheCMRefusesANegativeRuntimeSetting(t *testing.T) {
	for _, tc := range []struct {
		want string
		cfg  cmConfig
	}{
		{"gc-percent -1", cmConfig{GCPercent: -1}},
		{"gomaxprocs-per-cpu -1", cmConfig{ProcsPerCPU: -1}},
	} {
		db := filepath.Join(t.TempDir(), "never.db")
		tc.cfg.Store = "sqlite:" + db
		err := runCM(t.Context(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("runCM with %s = %v, want it refused", tc.want, err)
		}
		if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the CM refused for %s created its store: %v", tc.want, err)
		}
	}
}
