package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// exitPolicyFailed is the exit status of 'policy test' with a failing test or too little
// coverage, and of 'policy impact --fail-on-change' when a decision would change.
const exitPolicyFailed = 2

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Write, test and roll out Rego policy safely"}
	cmd.AddCommand(newPolicyTestCmd(), newPolicyEvalCmd(), newPolicyImpactCmd(), newPolicyBundleCmd(), newPolicyKeygenCmd())
	return cmd
}

// policyFS is the policy directory, or the embedded default policy when dir is empty; a
// directory without input.schema.json is type-checked against the embedded one, as the CM does.
// A directory that cannot be read is refused, by its name.
func policyFS(dir string) (fs.FS, error) {
	if dir == "" {
		return rego.Files(), nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("policy directory %s is not a directory", dir)
	}
	return policy.WithDefaultSchema(os.DirFS(dir)), nil
}

// policyName names the policy of dir in messages.
func policyName(dir string) string { return cmp.Or(dir, "the embedded policy") }

func newPolicyTestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run a policy's Rego tests with OPA's tester and print the coverage (default: the embedded policy)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg policyTestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			fsys, err := policyFS(dir)
			if err != nil {
				return err
			}
			return runPolicyTest(cmd.Context(), fsys, policyName(dir), cfg.MinCoverage, cmd.OutOrStdout())
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().Float64("min-coverage", 0, "fail when the tests cover less than this percentage of the policy's lines")
	return cmd
}

// policyTestConfig is the configuration of 'policy test'.
type policyTestConfig struct {
	MinCoverage float64 `mapstructure:"min-coverage"`
}

// policyEvalConfig is the configuration of 'policy eval'.
type policyEvalConfig struct {
	Input string `mapstructure:"input"`
	Dir   string `mapstructure:"dir"`
}

// runPolicyTest runs the tests of the policy fsys, named name in messages.
func runPolicyTest(ctx context.Context, fsys fs.FS, name string, minCoverage float64, out io.Writer) error {
	rep, err := policy.Test(ctx, fsys)
	if err != nil {
		return err
	}
	if rep.Passed == 0 && rep.Failed == 0 {
		fmt.Fprintf(out, "no tests found in %s (tests are rules named test_* in *_test.rego files)\n", name)
		return &exitError{code: exitPolicyFailed}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(out, "FAIL %s (%s)\n  %s\n", f.Name, f.Location, strings.ReplaceAll(f.Message, "\n", "\n  "))
	}
	fmt.Fprintf(out, "%d passed, %d failed\ncoverage: %.1f%%\n", rep.Passed, rep.Failed, rep.Coverage)
	if len(rep.NotCovered) > 0 {
		fmt.Fprintf(out, "not covered: %s\n", strings.Join(rep.NotCovered, " "))
	}
	if rep.Failed > 0 || rep.Passed == 0 || rep.Coverage < minCoverage {
		if rep.Coverage < minCoverage {
			fmt.Fprintf(out, "coverage %.1f%% is below the required %.1f%%\n", rep.Coverage, minCoverage)
		}
		return &exitError{code: exitPolicyFailed}
	}
	return nil
}

func newPolicyEvalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval --input FILE [--dir DIR]",
		Short: "Decide one input document (JSON, '-' for stdin) with a policy and print the decision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg policyEvalConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runPolicyEval(cmd.Context(), cfg.Input, cfg.Dir, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().String("input", "", "the input document: a JSON file as rego/input.schema.json describes, or - for stdin")
	cmd.Flags().String("dir", "", "policy directory (default: the embedded policy)")
	markRequired(cmd, "input")
	return cmd
}

func runPolicyEval(ctx context.Context, file, dir string, stdin io.Reader, out io.Writer) error {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	fsys, err := policyFS(dir)
	if err != nil {
		return err
	}
	engine, err := policy.New(ctx, policy.WithFS(fsys))
	if err != nil {
		return err
	}
	res, evalErr := engine.DecideJSON(ctx, raw)
	doc := struct {
		Revision string          `json:"revision"`
		Result   json.RawMessage `json:"result,omitempty"`
		Decision policy.Decision `json:"decision"`
		EvalNS   int64           `json:"timer_rego_query_eval_ns"`
		Error    string          `json:"error,omitempty"`
	}{Revision: res.Revision, Result: res.Raw, Decision: res.Decision, EvalNS: res.EvalNS}
	if evalErr != nil {
		doc.Error = evalErr.Error()
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return evalErr
}

// policyImpactConfig is the configuration of 'policy impact'.
type policyImpactConfig struct {
	guestConfig  `mapstructure:",squash"`
	Candidate    string `mapstructure:"candidate"`
	Since        string `mapstructure:"since"`
	Until        string `mapstructure:"until"`
	Format       string `mapstructure:"format"`
	FailOnChange bool   `mapstructure:"fail-on-change"`
}

func newPolicyImpactCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "impact --candidate DIR [--since 7d]",
		Short: "Replay past decisions against a candidate policy and list every decision it would change",
		Long: "Read the decision log through the CM's API (GET /v1/decisions, as the signed-in user, who must be\n" +
			"allowed to query_decisions), replay each recorded input against the candidate policy and list the\n" +
			"decisions that would change: allow→deny, deny→allow and changed obligations, with counts.\n" +
			"Connection decisions (portcullis/authz/decision) and admin and auditor API decisions\n" +
			"(portcullis/api/<operation>) are replayed alike; the CM's own refusals (label refusal, e.g. a\n" +
			"malformed request) are skipped: the policy did not decide them.\n" +
			"Inputs are replayed as recorded, after the decision-log mask.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg policyImpactConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runPolicyImpact(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	f := cmd.Flags()
	f.String("candidate", "", "directory of the candidate policy")
	f.String("since", "7d", "replay decisions at or after this time (RFC 3339) or age (24h, 7d)")
	f.String("until", "", "replay decisions before this time (RFC 3339) or age")
	f.String("format", formatTable, "output: table or json")
	f.Bool("fail-on-change", false, "exit with status 2 when any decision would change")
	markRequired(cmd, "candidate") // from the flag, PORTCULLIS_CANDIDATE or the config file
	return cmd
}

func runPolicyImpact(ctx context.Context, cfg policyImpactConfig, out io.Writer) error {
	if cfg.Format != formatTable && cfg.Format != formatJSON {
		return fmt.Errorf("--format %q: want table or json", cfg.Format)
	}
	q, err := logsQueryConfig{Since: cfg.Since, Until: cfg.Until, Format: formatTable}.query(time.Now())
	if err != nil {
		return err
	}
	candidateFS, err := policyFS(cfg.Candidate)
	if err != nil {
		return fmt.Errorf("--candidate: %w", err)
	}
	candidate, err := policy.New(ctx, policy.WithFS(candidateFS))
	if err != nil {
		return fmt.Errorf("candidate policy: %w", err)
	}
	dc, err := newDecisionClient(ctx, cfg.guestConfig)
	if err != nil {
		return err
	}
	rep, err := policy.Impact(ctx, candidate, policy.RecordedDecisions(dc.pages(ctx, q, 0)))
	if err != nil {
		return err
	}
	if err := printImpact(out, cfg.Format, candidate.Revision(), rep); err != nil {
		return err
	}
	if cfg.FailOnChange && len(rep.Changes) > 0 {
		return &exitError{code: exitPolicyFailed}
	}
	return nil
}

// impactKinds lists the kinds of change in the order they are reported.
var impactKinds = []string{policy.ChangeAllowToDeny, policy.ChangeDenyToAllow, policy.ChangeObligations}

func printImpact(out io.Writer, format, revision string, rep policy.ImpactReport) error {
	if format == formatJSON {
		type change struct {
			DecisionID string          `json:"decision_id"`
			Timestamp  time.Time       `json:"timestamp"`
			Path       string          `json:"path"`
			Subject    string          `json:"subject"`
			Host       string          `json:"host"`
			Kind       string          `json:"kind"`
			Before     policy.Decision `json:"before"`
			After      policy.Decision `json:"after"`
		}
		doc := struct {
			Candidate string         `json:"candidate_revision"`
			Replayed  int            `json:"replayed"`
			ByPath    map[string]int `json:"replayed_by_path"`
			Skipped   int            `json:"skipped"`
			Refusals  int            `json:"skipped_refusals"`
			Counts    map[string]int `json:"counts"`
			Changes   []change       `json:"changes"`
		}{Candidate: revision, Replayed: rep.Replayed, ByPath: rep.ReplayedByPath, Skipped: rep.Skipped, Refusals: rep.SkippedRefusals, Counts: map[string]int{}, Changes: []change{}}
		for _, k := range impactKinds {
			doc.Counts[k] = rep.Counts[k]
		}
		for _, c := range rep.Changes {
			doc.Changes = append(doc.Changes, change{c.Recorded.ID, c.Recorded.Time, c.Recorded.Path, c.Recorded.Subject, c.Recorded.Host, c.Kind, c.Before, c.After})
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tDECISION\tTIME\tPATH\tSUBJECT\tHOST\tNOW")
	for _, c := range rep.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Kind, c.Recorded.ID, c.Recorded.Time.UTC().Format(time.RFC3339),
			c.Recorded.Path, c.Recorded.Subject, c.Recorded.Host, describeAfter(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var counts bytes.Buffer
	for _, k := range impactKinds {
		fmt.Fprintf(&counts, "%s: %d\n", k, rep.Counts[k])
	}
	connects, apiOps := replayedByPolicy(rep)
	_, err := fmt.Fprintf(out, "%sreplayed %d decisions against candidate %s (%d connects, by authz.rego; %d API operations, portcullis/api/*, by api.rego); "+
		"skipped %d that the CM made without the policy (%d its own refusals) or recorded without input; %d would change\n",
		counts.String(), rep.Replayed, revision, connects, apiOps, rep.Skipped, rep.SkippedRefusals, len(rep.Changes))
	return err
}

// replayedByPolicy splits the replayed decisions into connects (authz.rego's) and API
// operations (api.rego's).
func replayedByPolicy(rep policy.ImpactReport) (connects, apiOps int) {
	for path, n := range rep.ReplayedByPath {
		switch {
		case path == policy.DecisionPath:
			connects += n
		case strings.HasPrefix(path, policy.APIDecisionPathPrefix):
			apiOps += n
		}
	}
	return connects, apiOps
}

// describeAfter says what the candidate decides instead.
func describeAfter(c policy.Change) string {
	if c.Kind == policy.ChangeObligations {
		b, _ := json.Marshal(c.After.Obligations)
		return "obligations " + string(b)
	}
	return strings.Join(c.After.Reasons, "; ")
}

// policyBundleConfig is the configuration of 'policy bundle'.
type policyBundleConfig struct {
	Dir      string `mapstructure:"dir"`
	Out      string `mapstructure:"out"`
	Key      string `mapstructure:"signing-key"`
	KeyID    string `mapstructure:"key-id"`
	Alg      string `mapstructure:"alg"`
	Revision string `mapstructure:"revision"`
}

func newPolicyBundleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle --dir DIR --out FILE --signing-key FILE --key-id ID --revision REV",
		Short: "Test a policy directory, then write it as a signed OPA bundle the CM can load with --policy-bundle",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg policyBundleConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runPolicyBundle(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addConfigFlag(cmd)
	f := cmd.Flags()
	f.String("dir", "", "policy directory (default: the embedded policy)")
	f.String("out", "", "the bundle file to write (.tar.gz)")
	f.String("signing-key", "", "file of the PEM private key (or HS* shared secret) to sign with")
	f.String("key-id", "", "key id to sign as; the CM verifies with the same --policy-key-id")
	f.String("alg", policy.DefaultBundleAlgorithm, "signature algorithm")
	f.String("revision", "", "the bundle's revision, recorded with every decision it makes")
	markRequired(cmd, "out", "signing-key", "key-id", "revision") // from flags, PORTCULLIS_* or the config file
	return cmd
}

func runPolicyBundle(ctx context.Context, cfg policyBundleConfig, out io.Writer) error {
	fsys, err := policyFS(cfg.Dir)
	if err != nil {
		return err
	}
	if err := runPolicyTest(ctx, fsys, policyName(cfg.Dir), 0, out); err != nil {
		return err
	}
	key, err := os.ReadFile(cfg.Key)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	var buf bytes.Buffer
	if err := policy.WriteBundle(&buf, fsys, cfg.Revision, policy.BundleSigning{KeyID: cfg.KeyID, Key: string(key), Algorithm: cfg.Alg}); err != nil {
		return err
	}
	// Atomically, so that a CM watching the file never reads half a bundle.
	if err := atomicfile.Write(cfg.Out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	fmt.Fprintf(out, "wrote %s (revision %s, signed as %s)\n", cfg.Out, cfg.Revision, cfg.KeyID)
	return nil
}
