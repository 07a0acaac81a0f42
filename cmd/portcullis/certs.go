package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/certs"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create and manage the CA, TLS certificates and signing keys",
	}
	cmd.AddCommand(newCertsInitCmd())
	return cmd
}

func newCertsInitCmd() *cobra.Command {
	var (
		dir   string
		alg   string
		hosts []string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a CA, TLS server certificates for the CM and CS, the ticket-signing key and the SSH user CA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := certs.Init(dir, certs.InitOptions{Algorithm: certs.Algorithm(alg), Hosts: hosts, Force: force})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the CA, CM and CS certificates, the ticket key and the SSH user CA to %s\n", dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "certs", "directory to write to")
	f.StringVar(&alg, "algorithm", string(certs.AlgRSA4096), "key algorithm of the CA and TLS certificates: rsa4096 or p384")
	f.StringSliceVar(&hosts, "host", nil, "DNS names or IP addresses the CM and CS certificates are valid for (default localhost, 127.0.0.1, ::1)")
	f.BoolVar(&force, "force", false, "overwrite existing keys")
	return cmd
}
