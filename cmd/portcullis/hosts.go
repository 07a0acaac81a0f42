package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/spf13/cobra"
)

func newHostsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List the Hosts you may reach now, with online state, tags, last seen and the channels the policy grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg listConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return streamPages(cmd, cfg, api.PathReachableHosts, url.Values{}, reachableColumns(),
				func(page *api.ReachableHosts) []api.ReachableHost { return page.Hosts })
		},
	}
	addGuestFlags(cmd)
	addFormatFlag(cmd)
	cmd.Flags().Int("limit", 0, "at most this many Hosts, the first by name (0: all)")
	cmd.AddCommand(hostAdminCmds()...)
	return cmd
}

// reachableColumns are the columns of 'hosts' (the Hosts the user may reach) as a table.
func reachableColumns() streamColumns[api.ReachableHost] {
	return streamColumns[api.ReachableHost]{
		noun:        "hosts",
		tableHeader: "HOST\tSTATE\tLAST SEEN\tTAGS\tCHANNELS\tMIN ENCRYPTION",
		tableRow: func(h api.ReachableHost) string {
			state, seen := "offline", "never"
			if h.Online {
				state = "online"
			}
			if !h.LastSeen.IsZero() {
				seen = h.LastSeen.UTC().Format(time.RFC3339)
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", h.Name, state, seen, formatTags(h.Tags), strings.Join(h.Channels, ","), h.MinEncryption)
		},
	}
}

// formatTags prints tags as sorted key=value pairs.
func formatTags(tags map[string]string) string {
	pairs := make([]string, 0, len(tags))
	for k, v := range tags {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}
