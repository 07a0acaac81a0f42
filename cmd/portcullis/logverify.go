package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/translog"
)

// Exit codes of `portcullis logs verify`.
const (
	// exitVerifyTampered: verification found records altered, deleted, inserted or reordered,
	// a bad checkpoint or a fork (the findings are printed).
	exitVerifyTampered = 65
	// exitVerifyUnreadable: the bundle, the key or a saved checkpoint could not be read.
	exitVerifyUnreadable = 66
)

// verifyError carries a verification's exit code.
type verifyError struct {
	code int
	err  error
}

func (e *verifyError) Error() string { return e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

type logsExportConfig struct {
	guestConfig `mapstructure:",squash"`
	Since       string `mapstructure:"since"`
	Until       string `mapstructure:"until"`
	Output      string `mapstructure:"output"`
}

func newLogsExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a self-contained, verifiable bundle of the decision log",
		Long: "Write an export bundle of the decision records decided in [--since, --until): the signed\n" +
			"checkpoints, every leaf of the log's Merkle tree and the records, so that 'portcullis logs\n" +
			"verify' checks it on a machine with no access to the CM. Only callers the policy allows to\n" +
			"query_decisions may export; the export is itself recorded.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg logsExportConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogsExport(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	f := cmd.Flags()
	f.String("since", "", "records decided at or after this time (RFC 3339) or age (24h, 7d)")
	f.String("until", "", "records decided before this time (RFC 3339) or age")
	f.StringP("output", "o", "", "write the bundle to this file (default: standard output)")
	return cmd
}

func runLogsExport(ctx context.Context, cfg logsExportConfig, stdout io.Writer) error {
	q := url.Values{}
	for name, v := range map[string]string{api.QuerySince: cfg.Since, api.QueryUntil: cfg.Until} {
		if v == "" {
			continue
		}
		t, err := parseTimeOrAge(v, time.Now())
		if err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
		q.Set(name, t.Format(time.RFC3339Nano))
	}
	dc, err := newDecisionClient(ctx, cfg.guestConfig)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, dc.base+api.PathLogExport+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+dc.token)
	res, err := dc.http.Do(req)
	if err != nil {
		return fmt.Errorf("export the decision log: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&e)
		return fmt.Errorf("export the decision log: %d %s: %s", res.StatusCode, e.Code, e.Message)
	}
	out := stdout
	if cfg.Output != "" {
		f, err := os.OpenFile(cfg.Output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if _, err := io.Copy(out, res.Body); err != nil {
		return fmt.Errorf("export the decision log: %w", err)
	}
	return nil
}

// logsVerifyConfig is the configuration of 'logs verify'.
type logsVerifyConfig struct {
	Key        string   `mapstructure:"key"`
	Checkpoint []string `mapstructure:"checkpoint"`
	JSON       bool     `mapstructure:"json"`
}

func newLogsVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Verify an export bundle of the decision log offline, against the log's public key",
		Long: "Verify an export bundle ('portcullis logs export') without the CM: every checkpoint's\n" +
			"signature against --key (log.pub, which the reviewer keeps), that the log's leaves hash to\n" +
			"every checkpoint's root and to those of the checkpoints saved earlier (--checkpoint, a fork\n" +
			"otherwise), and that every record is the one logged at its position, signed by the log key.\n" +
			"It names each record altered, deleted, inserted or reordered. BUNDLE - reads standard input\n" +
			"(portcullis logs export | portcullis logs verify --key log.pub -).\n" +
			"Exit status: 0 verified; 65 something was found (printed); 66 an input could not be read\n" +
			"(the bundle, the key, or a saved checkpoint that is not one of this log signed by its key).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg logsVerifyConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogsVerify(args[0], cfg.Key, cfg.Checkpoint, cfg.JSON, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	f.String("key", "log.pub", "the log's verifier key")
	f.StringArray("checkpoint", nil, "a checkpoint saved earlier (a file holding its signed note; repeat)")
	f.Bool("json", false, "print the report as JSON")
	return cmd
}

func runLogsVerify(bundle, keyFile string, savedFiles []string, asJSON bool, stdin io.Reader, out io.Writer) error {
	unreadable := func(err error) error { return &verifyError{code: exitVerifyUnreadable, err: err} }
	v, err := translog.LoadVerifier(keyFile)
	if err != nil {
		return unreadable(err)
	}
	var saved []string
	for _, name := range savedFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			return unreadable(err)
		}
		if _, err := v.OpenCheckpoint(string(b)); err != nil {
			return unreadable(fmt.Errorf("--checkpoint %s: not a checkpoint of this log signed by its key: %w", name, err))
		}
		saved = append(saved, string(b))
	}
	var in io.Reader = stdin
	if bundle != "-" {
		f, err := os.Open(bundle)
		if err != nil {
			return unreadable(err)
		}
		defer f.Close()
		in = f
	}
	rep, err := translog.Verify(in, v, saved)
	if err != nil {
		return unreadable(err)
	}
	if err := printReport(out, rep, asJSON); err != nil {
		return err
	}
	if !rep.OK() {
		return &verifyError{code: exitVerifyTampered, err: fmt.Errorf("the decision log does not verify: %d findings", len(rep.Findings))}
	}
	return nil
}

func printReport(out io.Writer, rep translog.Report, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(out, "%-13s %-40s %s\n", f.Kind, f.ID, f.Detail)
	}
	fmt.Fprintf(out, "log of %d records; %d checkpoints checked; %d records verified, of positions [%d, %d); %d not logged yet; %d findings\n",
		rep.Size, rep.Checkpoints, rep.Records, rep.From, rep.To, rep.Pending, len(rep.Findings))
	return nil
}
