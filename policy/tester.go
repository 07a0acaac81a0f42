package policy

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestReport is the outcome of a policy's Rego tests.
type TestReport struct {
	// Passed counts the tests that passed.
	Passed int
	// Failed counts the tests that failed or stopped with an error.
	Failed int
	// Failures describes each failed test, ordered by location.
	Failures []TestFailure
	// Coverage is the percentage (0–100) of the deciding modules' lines the tests evaluated,
	// as OPA's coverage tracer counts them; the _test.rego files are not counted.
	Coverage float64
	// NotCovered lists the deciding modules' lines no test evaluated, as "file:row" or "file:first-last".
	NotCovered []string
}

// TestFailure is one failed Rego test.
type TestFailure struct {
	// Name is the test's rule, e.g. data.portcullis.authz_test.test_alice_reaches_db_1.
	Name string
	// Location is "file:row" of the test.
	Location string
	// Message says what went wrong: the failing expression or the evaluation error.
	Message string
}

// Test runs every test_ rule of the .rego modules in fsys with OPA's tester and its coverage
// tracer. An error means the tests could not run (unreadable or uncompilable modules); failing
// tests are reported in the TestReport, not as an error. Of the options only WithoutBuiltins
// applies: the tests compile as New compiles the policy.
func Test(ctx context.Context, fsys fs.FS, opts ...Option) (TestReport, error) {
	var s settings
	for _, opt := range opts {
		opt(&s)
	}
	src, err := loadSource(fsys, true)
	if err != nil {
		return TestReport{}, err
	}
	compiler := src.newCompiler(capabilities(s.withoutBuiltins)).WithEnablePrintStatements(true)
	tracer := cover.New()
	results, err := tester.NewRunner().
		SetCompiler(compiler).
		SetModules(src.modules).
		SetCoverageQueryTracer(tracer).
		SetCoverageRuns(nil).
		RunTests(ctx, nil)
	if err != nil {
		return TestReport{}, fmt.Errorf("%w: %w", ErrInvalidPolicy, explainWithheld(err, s.withoutBuiltins))
	}
	var report TestReport
	for r := range results {
		report.add(r)
	}
	slices.SortFunc(report.Failures, func(a, b TestFailure) int { return cmp.Compare(a.Location, b.Location) })
	report.cover(tracer.Report(src.modules), src)
	return report, nil
}

// add counts one test result.
func (r *TestReport) add(res *tester.Result) {
	if res.Pass() {
		r.Passed++
		return
	}
	r.Failed++
	f := TestFailure{Name: res.Package + "." + res.Name, Location: res.Location.String()}
	switch {
	case res.Error != nil:
		f.Message = res.Error.Error()
	case res.FailedAt != nil:
		f.Message = "failed at " + res.FailedAt.String()
	default:
		f.Message = "test rule was undefined or false"
	}
	if len(res.Output) > 0 {
		f.Message += "\n" + strings.TrimSpace(string(res.Output))
	}
	r.Failures = append(r.Failures, f)
}

// cover fills Coverage and NotCovered from OPA's report, counting only the deciding modules.
func (r *TestReport) cover(rep cover.Report, src *source) {
	var covered, notCovered int
	for _, p := range slices.Sorted(maps.Keys(src.texts)) {
		fr := rep.Files[p]
		if fr == nil {
			continue
		}
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		for _, rng := range fr.NotCovered {
			where := fmt.Sprintf("%s:%d", p, rng.Start.Row)
			if rng.End.Row != rng.Start.Row {
				where += fmt.Sprintf("-%d", rng.End.Row)
			}
			r.NotCovered = append(r.NotCovered, where)
		}
	}
	r.NotCovered = slices.Compact(r.NotCovered)
	if total := covered + notCovered; total > 0 {
		r.Coverage = 100 * float64(covered) / float64(total)
	}
}
