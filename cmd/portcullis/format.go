package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

// addFormatFlag adds --format to a listing command: a table for people, JSON for scripts.
func addFormatFlag(cmd *cobra.Command) {
	cmd.Flags().String("format", formatTable, "Output: table, json (one array) or ndjson (one object a line).")
}

// listConfig is the configuration of a listing command: the Guest's, the output format and, for
// a listing the CM answers in pages, at most how many items.
type listConfig struct {
	guestConfig `mapstructure:",squash"`
	Format      string `mapstructure:"format"`
	Limit       int    `mapstructure:"limit"`
}

// writeList prints items in format: table (by table), json or ndjson.
func writeList[T any](cmd *cobra.Command, format string, items []T, table func(io.Writer, []T) error) error {
	out := cmd.OutOrStdout()
	switch format {
	case formatTable:
		return table(out, items)
	case formatJSON:
		if items == nil {
			items = []T{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	case formatNDJSON:
		enc := json.NewEncoder(out)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("--format %q: want table, json or ndjson", format)
	}
}

func newRelaysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relays",
		Short: "Read the Connection Servers registered with the CM (administrators and auditors)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRelaysListCmd())
	return cmd
}

func newRelaysListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the registered relays with their region, owner, health, load and last report",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg listConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			g, err := cfg.guest(cmd.Context())
			if err != nil {
				return err
			}
			var relays []api.RelayInfo
			if err := api.Call(cmd.Context(), g.HTTPClient(), http.MethodGet, g.CMURL+api.PathRelays, g.IDToken, nil, &relays); err != nil {
				return err
			}
			return writeList(cmd, cfg.Format, relays, printRelays)
		},
	}
	addGuestFlags(cmd)
	addFormatFlag(cmd)
	return cmd
}

// printRelays prints relays as a table.
func printRelays(w io.Writer, relays []api.RelayInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELAY\tREGION\tOWNER\tADDRESS\tSTATE\tSESSIONS\tBYTES/S\tLAST SEEN")
	for _, r := range relays {
		state := map[bool]string{true: "healthy", false: "unhealthy"}[r.Healthy]
		if r.Draining {
			state = "draining"
		}
		owner := r.Owner
		if owner == "" {
			owner = "vendor"
		}
		sessions := strconv.Itoa(r.Sessions)
		if r.MaxSessions > 0 {
			sessions += "/" + strconv.Itoa(r.MaxSessions)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Region, owner, r.Addr, state, sessions, r.BytesPerSec,
			r.LastSeen.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
