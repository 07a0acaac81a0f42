package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
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
			_, g, err := loadGuest(cmd)
			if err != nil {
				return err
			}
			me, err := g.ReachableHosts(cmd.Context())
			if err != nil {
				return err
			}
			return writeList(cmd, me.Hosts, printReachable)
		},
	}
	addGuestFlags(cmd)
	addFormatFlag(cmd)
	cmd.AddCommand(hostAdminCmds()...)
	return cmd
}

// printReachable prints the Hosts the user may reach as a table.
func printReachable(w io.Writer, hosts []api.ReachableHost) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tLAST SEEN\tTAGS\tCHANNELS\tMIN ENCRYPTION")
	for _, h := range hosts {
		state, seen := "offline", "never"
		if h.Online {
			state = "online"
		}
		if !h.LastSeen.IsZero() {
			seen = h.LastSeen.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, state, seen, formatTags(h.Tags), strings.Join(h.Channels, ","), h.MinEncryption)
	}
	return tw.Flush()
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
