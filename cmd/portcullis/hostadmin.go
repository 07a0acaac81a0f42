package main

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint/guest"
)

// hostAdminCmds are the administrators' subcommands of `portcullis hosts`: what they may do is
// decided by the API policy (rego/api.rego) and recorded in the decision log.
func hostAdminCmds() []*cobra.Command {
	return []*cobra.Command{
		newHostsListCmd(),
		newHostActionCmd("disable", "Disable a Host: its heartbeats, polls and every connection to it are refused", http.MethodPost, "/disable"),
		newHostActionCmd("enable", "Enable a disabled Host again", http.MethodPost, "/enable"),
		newHostActionCmd("delete", "Delete a Host: it must enrol again with a new token; its decisions stay on record", http.MethodDelete, ""),
	}
}

func newHostsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every enrolled Host with its id, tenant, tags and state, by name (administrators, auditors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg listConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return streamListing(cmd, cfg, api.PathHosts, url.Values{}, hostColumns())
		},
	}
	addGuestFlags(cmd)
	addFormatFlag(cmd)
	cmd.Flags().Int("limit", 0, "at most this many Hosts, the first by name (0: all)")
	return cmd
}

// hostColumns are the columns of 'hosts list' as a table.
func hostColumns() streamColumns[api.HostInfo] {
	return streamColumns[api.HostInfo]{
		noun:        "hosts",
		tableHeader: "NAME\tID\tTENANT\tTAGS\tSTATE\tLAST SEEN",
		tableRow: func(h api.HostInfo) string {
			state := map[bool]string{true: "online", false: "offline"}[h.Online]
			if h.Disabled {
				state = "disabled"
			}
			seen := "never"
			if !h.LastSeen.IsZero() {
				seen = h.LastSeen.Local().Format(time.RFC3339)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", h.Name, h.ID, h.Tenant, formatTags(h.Tags), state, seen)
		},
	}
}

// newHostActionCmd builds "hosts disable|enable|delete HOST".
func newHostActionCmd(verb, short, method, suffix string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " HOST",
		Short: short + " (HOST is a name or an id)",
		Args:  cobra.ExactArgs(1),
		RunE: asGuest(func(cmd *cobra.Command, g *guest.Client, args []string) error {
			var in any
			if method == http.MethodPost {
				in = struct{}{}
			}
			u := g.CMURL + api.PathHosts + "/" + url.PathEscape(args[0]) + suffix
			if err := api.Call(cmd.Context(), g.HTTPClient(), method, u, g.IDToken, in, nil); err != nil {
				if se, ok := api.AsStatus(err); ok && len(se.Body.Reasons) > 0 {
					return fmt.Errorf("%w (decision %s: %v)", err, se.Body.DecisionID, se.Body.Reasons)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %sd\n", args[0], verb)
			return nil
		}),
	}
	addGuestFlags(cmd)
	return cmd
}
