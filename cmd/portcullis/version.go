package main

import (
	"encoding/json"
	"fmt"

	"github.com/portcullis/portcullis/internal/buildinfo"
	"github.com/spf13/cobra"
)

// setVersion gives root --version, printing the same line as `portcullis version`.
func setVersion(root *cobra.Command) {
	root.Version = buildinfo.Read().String()
	root.SetVersionTemplate("{{.Version}}\n")
}

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version of this binary",
		Long: "Print the release version, the commit it was built from, the build date, the Go version and the platform of this binary.\n" +
			"With --json, print them as one JSON object.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Read()
			asJSON, _ := cmd.Flags().GetBool("json")
			if !asJSON {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), info.String())
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(info)
		},
	}
	cmd.Flags().Bool("json", false, "Print the build information as JSON.")
	return cmd
}
