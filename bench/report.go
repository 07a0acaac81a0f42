package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured number.
type Figure struct {
	// Section groups figures: "throughput", "setup", "decisions", "heartbeats", "sessions".
	Section string `json:"section"`
	// Name says what was measured, e.g. "portcullis" or "sqlite_p99".
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Note explains how the figure was taken, when the name does not.
	Note string `json:"note,omitempty"`
	// Load is the machine's load average (1 minute) when the figure was recorded; 0 unknown.
	Load float64 `json:"load_1m,omitempty"`
}

// Comparison is how a target is checked.
type Comparison string

// Comparisons of a Target.
const (
	AtLeast Comparison = ">="
	AtMost  Comparison = "<="
	Below   Comparison = "<"
)

// Target is a goal that one figure (or ratio) must meet.
type Target struct {
	Name      string     `json:"name"`
	Value     float64    `json:"value"`
	Op        Comparison `json:"op"`
	Threshold float64    `json:"threshold"`
	Unit      string     `json:"unit"`
	Pass      bool       `json:"pass"`
}

// loadLimit is the load average (1 minute) above which a run's rates describe a busy machine
// more than the code: the table says so.
const loadLimit = 1.5

// stealLimit is the share of CPU time stolen by the hypervisor above which the table says that
// the machine ran slower than it is.
const stealLimit = 5.0

// Report collects everything one run measured.
type Report struct {
	Started time.Time `json:"started"`
	Machine string    `json:"machine"`
	// Commit is the source's commit (with "+dirty" when it had uncommitted changes).
	Commit string `json:"commit,omitempty"`
	// LoadStart and LoadMax are the load average (1 minute) when the run started and the
	// highest recorded beside a figure.
	LoadStart float64 `json:"load_start,omitempty"`
	LoadMax   float64 `json:"load_max,omitempty"`
	// StealPercent is the share of the machine's CPU time the hypervisor gave to other guests
	// during the run (steal): CPU this machine wanted and did not get, which no load average
	// shows; absent where /proc/stat cannot tell it.
	StealPercent *float64 `json:"steal_percent,omitempty"`
	// loadAverage reads the load average for each figure; nil records none.
	loadAverage func() (float64, error)
	Figures     []Figure `json:"figures"`
	Ratios      []Figure `json:"ratios"`
	Targets     []Target `json:"targets"`
	Failures    []string `json:"failures,omitempty"`
	// Notes say what was measured but could not be compared, and why.
	Notes []string `json:"notes,omitempty"`
}

// add records a figure; a value that is not a finite number is recorded as a failure.
func (r *Report) add(section, name string, value float64, unit string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		r.fail(fmt.Errorf("%s/%s: not measured (%g)", section, name, value))
		return
	}
	r.Figures = append(r.Figures, Figure{Section: section, Name: name, Value: value, Unit: unit, Load: r.load()})
}

// load reads the load average for a figure and keeps the run's highest; 0 when unknown.
func (r *Report) load() float64 {
	if r.loadAverage == nil {
		return 0
	}
	l, err := r.loadAverage()
	if err != nil {
		return 0
	}
	r.LoadMax = max(r.LoadMax, l)
	return l
}

// ratio records num/den as a ratio figure and returns it; a zero denominator gives NaN, which
// is recorded as a failure rather than a number.
func (r *Report) ratio(section, name string, num, den float64) float64 {
	v := math.NaN()
	if den != 0 {
		v = num / den
	}
	if math.IsNaN(v) {
		r.fail(fmt.Errorf("%s/%s: ratio of %g to 0", section, name, num))
		return v
	}
	r.Ratios = append(r.Ratios, Figure{Section: section, Name: name, Value: v, Unit: "x", Load: r.load()})
	return v
}

// target records whether value meets op threshold; a value that is not a finite number was
// not measured (a failure recorded where it was computed) and is left out.
func (r *Report) target(name string, value float64, op Comparison, threshold float64, unit string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}
	r.Targets = append(r.Targets, Target{Name: name, Value: value, Op: op, Threshold: threshold, Unit: unit, Pass: meets(value, op, threshold)})
}

// notef records why a comparison was left out although its figures were measured.
func (r *Report) notef(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// fail records a measurement that could not be taken.
func (r *Report) fail(err error) {
	r.Failures = append(r.Failures, err.Error())
}

// meets reports whether value op threshold holds; NaN never meets anything.
func meets(value float64, op Comparison, threshold float64) bool {
	if math.IsNaN(value) {
		return false
	}
	switch op {
	case AtLeast:
		return value >= threshold
	case AtMost:
		return value <= threshold
	case Below:
		return value < threshold
	}
	return false
}

// Passed reports whether every target passed and nothing failed to measure.
func (r *Report) Passed() bool {
	if len(r.Failures) > 0 {
		return false
	}
	for _, t := range r.Targets {
		if !t.Pass {
			return false
		}
	}
	return true
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode results %s: %w", path, err)
	}
	return &r, nil
}

// WriteTable prints the run's commit and load, then the figures (each with the load average
// when it was taken), ratios and targets as aligned text tables (Markdown pipes, so the README
// can carry the output verbatim).
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "Measured on commit %s, %s; load average (1 min) %s at the start, %s at most.\n",
		cmp.Or(r.Commit, "unknown"), r.Machine, formatValue(r.LoadStart), formatValue(r.LoadMax))
	if r.StealPercent != nil {
		fmt.Fprintf(w, "The hypervisor withheld %.1f %% of the machine's CPU time during the run (steal).\n", *r.StealPercent)
	}
	if r.LoadMax > loadLimit {
		fmt.Fprintf(w, "LOADED: the load average exceeded %.1f during the run; rates measure the machine as much as the code.\n", loadLimit)
	}
	if r.StealPercent != nil && *r.StealPercent > stealLimit {
		fmt.Fprintf(w, "STOLEN: more than %.0f %% of the CPU time went to other guests; rates and CPU times measure a slower machine.\n", stealLimit)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| section\t measurement\t value\t unit\t load\t")
	fmt.Fprintln(tw, "|---\t---\t---:\t---\t---:\t")
	for _, f := range append(slices.Clone(r.Figures), r.Ratios...) {
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %s\t %.2f\t\n", f.Section, f.Name, formatValue(f.Value), f.Unit, f.Load)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| target\t measured\t goal\t result\t")
	fmt.Fprintln(tw, "|---\t---:\t---\t---\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "| %s\t %s %s\t %s %s %s\t %s\t\n", t.Name, formatValue(t.Value), t.Unit, t.Op, formatValue(t.Threshold), t.Unit, passWord(t.Pass))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "\nnot measured: %s\n", f)
	}
	return nil
}

func passWord(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// formatValue prints a number with three significant digits, without exponent for the ranges
// the suite measures.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
}

// percentile returns the p-th percentile (0..100) of samples by the nearest-rank method; it
// sorts samples in place. An empty slice gives 0.
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	rank := int(math.Ceil(p / 100 * float64(len(samples))))
	return samples[min(max(rank, 1), len(samples))-1]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// us converts a duration to microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
