package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

// logsTraceConfig is the configuration of 'logs trace'.
type logsTraceConfig struct {
	guestConfig `mapstructure:",squash"`
	Session     bool   `mapstructure:"session"`
	Format      string `mapstructure:"format"`
}

// trace is what 'logs trace' follows from one record: the decision and, when it granted one,
// the session its tickets opened.
type trace struct {
	Decision api.Decision `json:"decision"`
	// Session is the session the decision started; nil when it started none.
	Session *api.Session `json:"session,omitempty"`
}

func newLogsTraceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace ID",
		Short: "Follow one decision to the tickets it minted, the session they opened and how that session ended",
		Long: "Follow the link between a decision record and its session, both ways: the record of an allowed\n" +
			"connect names the session it started (label session_id) and the session names its decision\n" +
			"(decision_id). ID is a decision id, or with --session a session id. Prints the decision, the\n" +
			"tickets (both carry the decision id and the session id), the session, and its end reason.\n" +
			"Reading another user's record needs the policy's query_decisions, and reading sessions list_sessions.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg logsTraceConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogsTrace(cmd.Context(), cfg, args[0], cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	cmd.Flags().Bool("session", false, "ID is a session id: start from the session and follow it to its decision")
	cmd.Flags().String("format", formatTable, "output: table or json")
	return cmd
}

func runLogsTrace(ctx context.Context, cfg logsTraceConfig, id string, out io.Writer) error {
	if cfg.Format != formatTable && cfg.Format != formatJSON {
		return fmt.Errorf("--format %q: want table or json", cfg.Format)
	}
	dc, err := newDecisionClient(ctx, cfg.guestConfig)
	if err != nil {
		return err
	}
	var tr trace
	if cfg.Session {
		tr, err = dc.traceSession(ctx, id)
	} else {
		tr, err = dc.traceDecision(ctx, id)
	}
	if err != nil {
		return err
	}
	if cfg.Format == formatJSON {
		return printJSON(out, tr)
	}
	return printTrace(out, tr)
}

// get reads one answer of the CM.
func (c *decisionClient) get(ctx context.Context, path string, out any) error {
	return api.Call(ctx, c.http, http.MethodGet, c.base+path, c.token, nil, out)
}

// traceDecision follows a decision to its session: by the record's session_id label, or, for
// a record without one, by asking for the session that names the decision.
func (c *decisionClient) traceDecision(ctx context.Context, id string) (trace, error) {
	var tr trace
	if err := c.get(ctx, api.PathDecisions+"/"+url.PathEscape(id), &tr.Decision); err != nil {
		return tr, fmt.Errorf("read decision %s: %w", id, err)
	}
	if !tr.Decision.Allow {
		return tr, nil
	}
	if sid := tr.Decision.Labels[api.LabelSession]; sid != "" {
		var s api.Session
		if err := c.get(ctx, api.PathSessions+"/"+url.PathEscape(sid), &s); err != nil {
			return tr, fmt.Errorf("read session %s of decision %s: %w", sid, id, err)
		}
		if s.DecisionID != id {
			return tr, fmt.Errorf("decision %s names session %s, but that session names decision %q", id, sid, s.DecisionID)
		}
		tr.Session = &s
		return tr, nil
	}
	var ss []api.Session
	if err := c.get(ctx, api.PathSessions+"?"+url.Values{"decision": {id}}.Encode(), &ss); err != nil {
		return tr, fmt.Errorf("find the session of decision %s: %w", id, err)
	}
	if len(ss) > 0 {
		tr.Session = &ss[0]
	}
	return tr, nil
}

// traceSession follows a session to the decision that allowed it.
func (c *decisionClient) traceSession(ctx context.Context, id string) (trace, error) {
	var s api.Session
	if err := c.get(ctx, api.PathSessions+"/"+url.PathEscape(id), &s); err != nil {
		return trace{}, fmt.Errorf("read session %s: %w", id, err)
	}
	if s.DecisionID == "" {
		return trace{}, fmt.Errorf("session %s names no decision", id)
	}
	tr := trace{Session: &s}
	if err := c.get(ctx, api.PathDecisions+"/"+url.PathEscape(s.DecisionID), &tr.Decision); err != nil {
		return tr, fmt.Errorf("read decision %s of session %s: %w", s.DecisionID, id, err)
	}
	if sid := tr.Decision.Labels[api.LabelSession]; sid != "" && sid != id {
		return tr, fmt.Errorf("session %s names decision %s, but that decision names session %s", id, s.DecisionID, sid)
	}
	return tr, nil
}

// printTrace writes a trace as four lines: decision, ticket, session, end.
func printTrace(out io.Writer, tr trace) error {
	d := tr.Decision
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "decision  %s  %s  %s  %s → %s  %s (policy %s)\n", d.ID, d.Time.UTC().Format(time.RFC3339), verdict,
		d.Subject, d.HostName, strings.Join(d.Reasons, "; "), d.Revision)
	outcome := d.Labels[api.LabelOutcome]
	switch {
	case !d.Allow:
		b.WriteString("ticket    none: the decision denied\n")
	case tr.Session == nil && outcome != "":
		fmt.Fprintf(&b, "ticket    none: the grant stopped at %s\n", outcome)
	case tr.Session == nil:
		b.WriteString("ticket    none: the decision started no session\n")
	default:
		fmt.Fprintf(&b, "ticket    did=%s sid=%s relay=%s (the Guest's and the Host's)\n", d.ID, tr.Session.ID, tr.Session.RelayID)
	}
	if s := tr.Session; s != nil {
		fmt.Fprintf(&b, "session   %s  started %s  %s  relay %s  transport %s  %d bytes up, %d down, %d channels\n",
			s.ID, s.StartedAt.UTC().Format(time.RFC3339), s.Subject+" → "+s.HostName, s.RelayID, s.Transport, s.BytesUp, s.BytesDown, s.ChannelsOpened)
		if s.EndedAt == nil {
			b.WriteString("end       live\n")
		} else {
			fmt.Fprintf(&b, "end       %s  %s\n", s.EndedAt.UTC().Format(time.RFC3339), s.EndReason)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}
