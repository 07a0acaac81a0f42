package repocheck

import (
	"os/exec"
	"strings"
	"testing"
)

// makeTest runs the Makefile's test target with the given stages and Go command, and returns its
// output and whether it succeeded.
func makeTest(t *testing.T, stages, goCmd string) (string, bool) {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "-C", root, "test", "TEST_STAGES="+stages, "GO="+goCmd)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run make: %v", err)
	}
	return string(out), err == nil
}

func TestMakeTestRunsEveryStageAndReportsEachFailure(t *testing.T) {
	// With GO=false every Go stage fails; each must still run, and each is named at the end.
	out, ok := makeTest(t, "vet test-unit test-race", "false")
	if ok {
		t.Fatalf("make test succeeded with failing stages:\n%s", out)
	}
	for _, s := range []string{"vet", "test-unit", "test-race"} {
		if !strings.Contains(out, "=== make "+s) {
			t.Errorf("stage %s did not run after an earlier failure:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "make test: failed: vet test-unit test-race") {
		t.Errorf("the failures are not all reported:\n%s", out)
	}
	// With GO=true the same stages pass, and so does make test.
	if out, ok := makeTest(t, "vet test-unit test-race", "true"); !ok || !strings.Contains(out, "every stage passed") {
		t.Errorf("make test failed with passing stages:\n%s", out)
	}
}
