package host

import (
	"os"
	"runtime"
	"testing"
)

func TestDefaultsPerOperatingSystem(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	tests := []struct {
		goos, programData    string
		wantShell, wantState string
	}{
		{"linux", "", "/bin/sh", "/var/lib/portcullis/host"},
		{"freebsd", "", "/bin/sh", "/var/lib/portcullis/host"},
		{"darwin", "", "/bin/sh", "/Library/Application Support/Portcullis/host"},
		{"windows", `D:\Data`, `C:\Windows\System32\cmd.exe`, `D:\Data\Portcullis\host`},
		{"windows", `D:\Data\`, `C:\Windows\System32\cmd.exe`, `D:\Data\Portcullis\host`},
		{"windows", "", `C:\Windows\System32\cmd.exe`, `C:\ProgramData\Portcullis\host`},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+tt.programData, func(t *testing.T) {
			if got := shellFor(tt.goos); got != tt.wantShell {
				t.Errorf("shellFor(%s) = %q, want %q", tt.goos, got, tt.wantShell)
			}
			if got := stateDirFor(tt.goos, env(map[string]string{"ProgramData": tt.programData})); got != tt.wantState {
				t.Errorf("stateDirFor(%s) = %q, want %q", tt.goos, got, tt.wantState)
			}
		})
	}
}

// TestThisSystemsDefaultsAreItsOwnAndValid checks that the exported defaults are this
// operating system's entries of the table above, and that a session accepts the shell (an
// absolute path here).
func TestThisSystemsDefaultsAreItsOwnAndValid(t *testing.T) {
	if DefaultShell != shellFor(runtime.GOOS) {
		t.Errorf("DefaultShell = %q, want %q", DefaultShell, shellFor(runtime.GOOS))
	}
	if got, want := DefaultStateDir(), stateDirFor(runtime.GOOS, os.Getenv); got != want {
		t.Errorf("DefaultStateDir() = %q, want %q", got, want)
	}
	cfg := newFixture(t).serverConfig()
	cfg.Shell = DefaultShell
	if err := cfg.Validate(); err != nil {
		t.Errorf("a session with the default shell: %v", err)
	}
}
