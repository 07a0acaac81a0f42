package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

// Output formats of 'logs query'.
const (
	formatTable  = "table"
	formatJSON   = "json"
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// logsQueryConfig is the configuration of 'logs query'.
type logsQueryConfig struct {
	guestConfig `mapstructure:",squash"`
	Subject     string `mapstructure:"subject"`
	Host        string `mapstructure:"host"`
	Allow       bool   `mapstructure:"allow"`
	Deny        bool   `mapstructure:"deny"`
	Since       string `mapstructure:"since"`
	Until       string `mapstructure:"until"`
	Reason      string `mapstructure:"reason"`
	Limit       int    `mapstructure:"limit"`
	Format      string `mapstructure:"format"`
}

func newLogsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "logs", Short: "Read the decision log (auditors)"}
	cmd.AddCommand(newLogsQueryCmd(), newLogsTraceCmd(), newLogsExportCmd(), newLogsVerifyCmd())
	return cmd
}

func newLogsQueryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query",
		Short: "List decision records, newest first, that match every filter given",
		Long: "List decision records from the CM's decision log, newest first. Only callers the policy allows to\n" +
			"query_decisions (auditors, administrators) may; every query is itself recorded.\n" +
			"--since and --until take an RFC 3339 time or an age such as 24h or 7d.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg logsQueryConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogsQuery(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addGuestFlags(cmd)
	f := cmd.Flags()
	f.String("subject", "", "only decisions about this user id")
	f.String("host", "", "only decisions about the host of this name")
	f.Bool("allow", false, "only allowed decisions")
	f.Bool("deny", false, "only denied decisions")
	f.String("since", "", "only decisions at or after this time (RFC 3339) or age (24h, 7d)")
	f.String("until", "", "only decisions before this time (RFC 3339) or age")
	f.String("reason", "", "only decisions with a reason containing this text (case-insensitive)")
	f.Int("limit", 100, "at most this many records (0: all)")
	f.String("format", formatTable, "output: table, json, ndjson or csv")
	return cmd
}

// query turns the flags into the API's query parameters, reporting every bad flag at once.
func (c logsQueryConfig) query(now time.Time) (url.Values, error) {
	q := url.Values{}
	var errs []error
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set(api.QuerySubject, c.Subject)
	set(api.QueryHost, c.Host)
	set(api.QueryReason, c.Reason)
	switch {
	case c.Allow && c.Deny:
		errs = append(errs, errors.New("--allow and --deny exclude each other"))
	case c.Allow:
		q.Set(api.QueryAllow, "true")
	case c.Deny:
		q.Set(api.QueryAllow, "false")
	}
	for name, v := range map[string]string{api.QuerySince: c.Since, api.QueryUntil: c.Until} {
		if v == "" {
			continue
		}
		t, err := parseTimeOrAge(v, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
		}
		q.Set(name, t.Format(time.RFC3339Nano))
	}
	if !map[string]bool{formatTable: true, formatJSON: true, formatNDJSON: true, formatCSV: true}[c.Format] {
		errs = append(errs, fmt.Errorf("--format %q: want table, json, ndjson or csv", c.Format))
	}
	if c.Limit < 0 {
		errs = append(errs, errors.New("--limit must not be negative"))
	}
	return q, errors.Join(errs...)
}

// parseTimeOrAge reads an RFC 3339 time, or an age before now such as "90m", "24h" or "7d".
func parseTimeOrAge(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or an age like 7d", s)
		}
		return now.Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or an age like 24h", s)
	}
	return now.Add(-d), nil
}

// runLogsQuery prints the records cfg selects on out, and on errOut a word when --limit left
// some out.
func runLogsQuery(ctx context.Context, cfg logsQueryConfig, out, errOut io.Writer) error {
	q, err := cfg.query(time.Now())
	if err != nil {
		return err
	}
	dc, err := newDecisionClient(ctx, cfg.guestConfig)
	if err != nil {
		return err
	}
	return writePages(newRecordWriter(cfg.Format, out), errOut, cfg.Limit, dc.fetch(ctx, q))
}

// decisionClient reads the decision log through GET /v1/decisions as the signed-in user.
type decisionClient struct {
	http  *http.Client
	base  string
	token string
}

func newDecisionClient(ctx context.Context, g guestConfig) (*decisionClient, error) {
	guest, err := g.guest(ctx)
	if err != nil {
		return nil, err
	}
	return &decisionClient{http: guest.HTTPClient(), base: guest.CMURL, token: guest.IDToken}, nil
}

// pages yields the records q selects, newest first, following the cursor; at most limit (0: all).
func (c *decisionClient) pages(ctx context.Context, q url.Values, limit int) iter.Seq2[api.Decision, error] {
	return followPages(limit, nil, c.fetch(ctx, q))
}

// fetch reads the pages of the records q selects, for followPages.
func (c *decisionClient) fetch(ctx context.Context, q url.Values) func(ask int, cursor string) ([]api.Decision, api.PageAnswer, error) {
	return func(ask int, cursor string) ([]api.Decision, api.PageAnswer, error) {
		q.Set(api.QueryLimit, strconv.Itoa(ask))
		if cursor != "" {
			q.Set(api.QueryCursor, cursor)
		}
		var page api.DecisionPage
		ans, err := api.CallPage(ctx, c.http, c.base+api.PathDecisions+"?"+q.Encode(), c.token, &page)
		if err != nil {
			return nil, ans, fmt.Errorf("query the decision log: %w", err)
		}
		ans.Next = page.Next // this listing's cursor is in its body
		return page.Decisions, ans, nil
	}
}

// newRecordWriter prints decision records in format as they arrive (streamWriter).
func newRecordWriter(format string, out io.Writer) *streamWriter[api.Decision] {
	return newStreamWriter(format, out, streamColumns[api.Decision]{
		noun:        "records",
		tableHeader: "TIME\tDECISION\tSUBJECT\tHOST\tALLOW\tREASONS",
		tableRow: func(d api.Decision) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%t\t%s", d.Time.UTC().Format(time.RFC3339), d.ID, d.Subject, d.HostName, d.Allow, strings.Join(d.Reasons, "; "))
		},
		csvHeader: []string{"decision_id", "timestamp", "subject", "host", "allow", "reasons", "revision", "path"},
		csvRow: func(d api.Decision) []string {
			return []string{d.ID, d.Time.UTC().Format(time.RFC3339Nano), d.Subject, d.HostName, strconv.FormatBool(d.Allow), strings.Join(d.Reasons, "; "), d.Revision, d.Path}
		},
	})
}
