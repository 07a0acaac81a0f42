package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// minRegoCoverage is the least share (percent) of the default policy's lines its tests must evaluate.
const minRegoCoverage = 90.0

// minRegoTests guards against a test file that silently stopped being loaded.
const minRegoTests = 40

func TestDefaultPolicyRegoTests(t *testing.T) {
	report, err := Test(t.Context(), defaultpolicy.Files())
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	for _, f := range report.Failures {
		t.Errorf("%s (%s): %s", f.Name, f.Location, f.Message)
	}
	if report.Passed < minRegoTests {
		t.Errorf("passed %d rego tests, want at least %d", report.Passed, minRegoTests)
	}
	if report.Coverage < minRegoCoverage {
		t.Errorf("coverage %.1f%%, want ≥ %.0f%%; not covered: %v", report.Coverage, minRegoCoverage, report.NotCovered)
	}
	t.Logf("rego tests: %d passed, %d failed, coverage %.1f%%, not covered %v", report.Passed, report.Failed, report.Coverage, report.NotCovered)
}

func TestTestReportsFailuresAndCoverage(t *testing.T) {
	policy := "package p\n\nconflict := 1 if input.a\n\nconflict := 2 if input.b\n\nsmall if input.n < 10\n\nunused := \"never evaluated\" if input.never\n"
	tests := "package p_test\n\nimport data.p\n\n" +
		"test_passes if p.small with input as {\"n\": 1}\n\n" +
		"test_fails if p.small with input as {\"n\": 11}\n\n" +
		"test_errors if p.conflict with input as {\"a\": true, \"b\": true}\n"
	report, err := Test(t.Context(), fstest.MapFS{"p.rego": {Data: []byte(policy)}, "p_test.rego": {Data: []byte(tests)}})
	if err != nil {
		t.Fatalf("Test: %v", err)
	}
	if report.Passed != 1 || report.Failed != 2 || len(report.Failures) != 2 {
		t.Fatalf("report %+v, want 1 passed and 2 failed", report)
	}
	fails, errs := report.Failures[0], report.Failures[1]
	if fails.Name != "data.p_test.test_fails" || fails.Location != "p_test.rego:7" {
		t.Errorf("first failure %+v, want test_fails at p_test.rego:7", fails)
	}
	if errs.Name != "data.p_test.test_errors" || !strings.Contains(errs.Message, "conflict") {
		t.Errorf("second failure %+v, want test_errors with a conflict error", errs)
	}
	if report.Coverage <= 0 || report.Coverage >= 100 || !slices.Contains(report.NotCovered, "p.rego:9") {
		t.Errorf("coverage %.1f%% not covered %v, want partial coverage missing p.rego:9", report.Coverage, report.NotCovered)
	}
}

func TestTestRefusesModulesThatDoNotCompile(t *testing.T) {
	fsys := fstest.MapFS{
		"p.rego":      {Data: []byte("package p\n\nx := 1\n")},
		"p_test.rego": {Data: []byte("package p_test\n\ntest_x if data.p.x == y\n")},
	}
	if _, err := Test(t.Context(), fsys); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "p_test.rego") {
		t.Errorf("Test error = %v, want ErrInvalidPolicy naming p_test.rego", err)
	}
}
