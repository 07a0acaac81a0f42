package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

// adminCall runs one authenticated call to the CM as the signed-in user.
func adminCall(cmd *cobra.Command, method, path string, in, out any) error {
	_, g, err := loadGuest(cmd)
	if err != nil {
		return err
	}
	return api.Call(cmd.Context(), g.HTTPClient(), method, g.CMURL+path, g.IDToken, in, out)
}

func newSessionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "Read session records (administrators and auditors)",
	}
	cmd.AddCommand(newSessionsListCmd(), newSessionsShowCmd())
	return cmd
}

// sessionsListConfig is the configuration of 'sessions ls'.
type sessionsListConfig struct {
	listConfig `mapstructure:",squash"`
	User       string `mapstructure:"user"`
	Host       string `mapstructure:"host"`
	Relay      string `mapstructure:"relay"`
	Decision   string `mapstructure:"decision"`
	// Live is "" (every session), or true or false (an optionalBool).
	Live string `mapstructure:"live"`
}

// query is the sessions API's query of the filters set.
func (c sessionsListConfig) query() (url.Values, error) {
	q := url.Values{}
	for name, v := range map[string]string{"user": c.User, "host": c.Host, "relay": c.Relay, "decision": c.Decision} {
		if v != "" {
			q.Set(name, v)
		}
	}
	live, set, err := parseOptionalBool("live", c.Live)
	if err != nil {
		return nil, err
	}
	if set {
		q.Set("live", strconv.FormatBool(live))
	}
	return q, nil
}

func newSessionsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg sessionsListConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			q, err := cfg.query()
			if err != nil {
				return err
			}
			return streamListing(cmd, cfg.listConfig, api.PathSessions, q, sessionColumns())
		},
	}
	addGuestFlags(cmd)
	addFormatFlag(cmd)
	f := cmd.Flags()
	f.String("user", "", "only this user's sessions")
	f.String("host", "", "only sessions to this host (name)")
	f.String("relay", "", "only sessions through this relay")
	f.String("decision", "", "only the session this decision allowed (see also 'logs trace')")
	addOptionalBool(f, "live", "only live sessions (--live=false: only ended ones)")
	f.Int("limit", defaultSessionLimit, "at most this many sessions, the newest (0: all)")
	return cmd
}

// defaultSessionLimit is how many sessions 'sessions ls' lists without --limit.
const defaultSessionLimit = 100

// sessionColumns are the columns of 'sessions ls' as a table.
func sessionColumns() streamColumns[api.Session] {
	return streamColumns[api.Session]{
		noun:        "sessions",
		tableHeader: "SESSION\tUSER\tHOST\tRELAY\tSTARTED\tENDED\tUP\tDOWN\tREASON",
		tableRow: func(s api.Session) string {
			ended := "live"
			switch {
			case s.EndedAt != nil:
				ended = s.EndedAt.Format(time.RFC3339)
			case s.EndsAt != nil:
				ended = "live, cut at " + s.EndsAt.Format(time.RFC3339)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s", s.ID, s.Subject, s.HostName, s.RelayID,
				s.StartedAt.Format(time.RFC3339), ended, s.BytesUp, s.BytesDown, s.EndReason)
		},
	}
}

func newSessionsShowCmd() *cobra.Command {
	return newJSONCmd("show SESSION", "Show one session record", cobra.ExactArgs(1), http.MethodGet,
		func(_ *cobra.Command, args []string) string { return api.PathSessions + "/" + url.PathEscape(args[0]) }, &api.Session{})
}

// newJSONCmd is a command that makes one call to the CM (path from its arguments) and prints
// the answer, decoded into out, as JSON.
func newJSONCmd(use, short string, args cobra.PositionalArgs, method string, path func(*cobra.Command, []string) string, out any) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := adminCall(cmd, method, path(cmd, args), nil, out); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), out)
		},
	}
	addGuestFlags(cmd)
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newLockCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Lock a user, a host or a session: its live sessions end now and new connects are refused (administrators)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg lockConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			req, err := cfg.request()
			if err != nil {
				return err
			}
			g, err := cfg.guest(cmd.Context())
			if err != nil {
				return err
			}
			var l api.Lock
			if err := api.Call(cmd.Context(), g.HTTPClient(), http.MethodPost, g.CMURL+api.PathLocks, g.IDToken, req, &l); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s locked (%s); ended %d live session(s)\n", l.ID, l.Kind, l.Target, l.Reason, l.EndedCount)
			if l.Pending {
				fmt.Fprintln(cmd.ErrOrStderr(), "portcullis: the CM's store is down: the lock is in force on the CM that answered and ended the sessions it knows, and is recorded when the store is back (lost if that CM stops first)")
			}
			return nil
		},
	}
	addGuestFlags(cmd)
	f := cmd.Flags()
	f.String("user", "", "lock this user")
	f.String("host", "", "lock this host (name)")
	f.String("session", "", "lock (end) this session")
	f.Duration("ttl", 0, "the lock ends by itself after this long (default: until unlocked)")
	f.String("reason", "", "why; refused users see it (required)")
	// Checked once the settings are loaded: the flag, PORTCULLIS_* or the config file may give them.
	markRequired(cmd, "reason")
	return cmd
}

// lockConfig is the configuration of 'lock'.
type lockConfig struct {
	guestConfig `mapstructure:",squash"`
	User        string        `mapstructure:"user"`
	Host        string        `mapstructure:"host"`
	Session     string        `mapstructure:"session"`
	Reason      string        `mapstructure:"reason"`
	TTL         time.Duration `mapstructure:"ttl"`
}

// request is the lock request of c, which names exactly one of a user, a host and a session.
func (c lockConfig) request() (api.LockRequest, error) {
	var set []string
	for name, v := range map[string]string{"user": c.User, "host": c.Host, "session": c.Session} {
		if v != "" {
			set = append(set, "--"+name)
		}
	}
	slices.Sort(set)
	switch {
	case len(set) == 0:
		return api.LockRequest{}, errors.New("name what to lock: one of --user, --host or --session (or PORTCULLIS_USER, PORTCULLIS_HOST, PORTCULLIS_SESSION, or the config file)")
	case len(set) > 1:
		return api.LockRequest{}, fmt.Errorf("%s are all set (by flags, PORTCULLIS_* or the config file): lock one of a user, a host or a session at a time", strings.Join(set, " and "))
	case c.TTL < 0:
		return api.LockRequest{}, fmt.Errorf("--ttl %s: want a positive duration, or 0 for a lock until unlocked", c.TTL)
	}
	return api.LockRequest{User: c.User, Host: c.Host, Session: c.Session, Reason: c.Reason, TTLSeconds: int64(c.TTL / time.Second)}, nil
}

func newUnlockCmd() *cobra.Command {
	return newJSONCmd("unlock LOCK", "Remove a lock (administrators); the lock stays on record with who removed it",
		cobra.ExactArgs(1), http.MethodDelete,
		func(_ *cobra.Command, args []string) string { return api.PathLocks + "/" + url.PathEscape(args[0]) }, &api.Lock{})
}

func newLocksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "locks",
		Short: "List every lock in force, newest first (--all: every lock, removed and expired ones too) (administrators and auditors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg locksConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			q := url.Values{}
			if cfg.All {
				q.Set("all", "true")
			}
			return streamListing(cmd, cfg.listConfig, api.PathLocks, q, lockColumns())
		},
	}
	addGuestFlags(cmd)
	f := cmd.Flags()
	f.String("format", formatJSON, "Output: json (one array), table or ndjson (one object a line).")
	f.Bool("all", false, "list every lock, removed and expired ones included")
	f.Int("limit", 0, "at most this many locks, the newest (0: all)")
	return cmd
}

// locksConfig is the configuration of 'locks'.
type locksConfig struct {
	listConfig `mapstructure:",squash"`
	All        bool `mapstructure:"all"`
}

// lockColumns are the columns of 'locks' as a table.
func lockColumns() streamColumns[api.Lock] {
	return streamColumns[api.Lock]{
		noun:        "locks",
		tableHeader: "LOCK\tKIND\tTARGET\tREASON\tBY\tCREATED\tSTATE",
		tableRow: func(l api.Lock) string {
			state := "in force"
			switch {
			case l.RemovedAt != nil:
				state = "removed " + l.RemovedAt.Format(time.RFC3339) + " by " + l.RemovedBy
			case !l.Active:
				state = "expired"
			case l.ExpiresAt != nil:
				state = "in force until " + l.ExpiresAt.Format(time.RFC3339)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", l.ID, l.Kind, l.Target, l.Reason, l.CreatedBy, l.CreatedAt.Format(time.RFC3339), state)
		},
	}
}

func newReevaluateCmd() *cobra.Command {
	return newJSONCmd("reevaluate", "Re-decide every live session against the current policy now (administrators)",
		cobra.NoArgs, http.MethodPost, func(*cobra.Command, []string) string { return api.PathReevaluate }, &api.Reevaluation{})
}
