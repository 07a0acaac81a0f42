package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-11-30T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tagged := &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}}
	tests := []struct {
		name            string
		bi              *debug.BuildInfo
		version, commit string
		date            string
		want            Info
		wantStringParts []string
	}{
		{"no build info", nil, "", "", "", Info{Version: "dev"}, []string{"portcullis dev", "commit unknown", "built unknown"}},
		{"vcs only", vcs, "", "", "", Info{Version: "dev", Commit: "0123456789abcdef0123", Modified: true, Date: "2026-11-30T10:00:00Z", GoVersion: "go1.26.0"},
			[]string{"portcullis dev", "commit 0123456789ab+dirty", "built 2026-11-30T10:00:00Z", "go1.26.0"}},
		{"stamped wins", vcs, "1.2.0", "fedcba", "2026-12-01T00:00:00Z", Info{Version: "1.2.0", Commit: "0123456789abcdef0123", Modified: true, Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.0"},
			[]string{"portcullis 1.2.0", "built 2026-12-01T00:00:00Z"}},
		{"stamped commit", nil, "1.2.0", "fedcba987654321", "", Info{Version: "1.2.0", Commit: "fedcba987654321"}, []string{"commit fedcba987654"}},
		{"module version", tagged, "", "", "", Info{Version: "v1.4.0", GoVersion: "go1.26.1"}, []string{"portcullis v1.4.0", "go1.26.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.bi, tt.version, tt.commit, tt.date)
			if tt.want.GoVersion == "" {
				tt.want.GoVersion = got.GoVersion // runtime.Version(): the test binary's toolchain
			}
			tt.want.Platform = got.Platform
			if got != tt.want {
				t.Fatalf("fromBuildInfo = %+v, want %+v", got, tt.want)
			}
			s := got.String()
			for _, p := range tt.wantStringParts {
				if !strings.Contains(s, p) {
					t.Errorf("String() = %q, want it to contain %q", s, p)
				}
			}
		})
	}
}
