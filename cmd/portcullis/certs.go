package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/certs"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create and manage the CA, TLS certificates and signing keys",
	}
	cmd.AddCommand(newCertsInitCmd(), newCertsRelayCmd(), newCertsLogKeyCmd())
	return cmd
}

// certsInitConfig is the configuration of 'certs init'.
type certsInitConfig struct {
	Dir       string   `mapstructure:"dir"`
	Algorithm string   `mapstructure:"algorithm"`
	Host      []string `mapstructure:"host"`
	RelayHost []string `mapstructure:"relay-host"`
	Relay     []string `mapstructure:"relay"`
	Force     bool     `mapstructure:"force"`
}

func newCertsInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a CA, TLS server certificates for the CM and CS, the ticket-signing key, the SSH user CA and each named relay's certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg certsInitConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			err := certs.Init(cfg.Dir, certs.InitOptions{Algorithm: certs.Algorithm(cfg.Algorithm), Hosts: cfg.Host,
				RelayHosts: cfg.RelayHost, Relays: cfg.Relay, Force: cfg.Force})
			if errors.Is(err, certs.ErrExists) {
				return fmt.Errorf("%w: keys are already there; run again with --force to replace them all "+
					"(every certificate issued from the old CA then stops being trusted)", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the CA, CM and CS certificates, the ticket key and the SSH user CA to %s\n", cfg.Dir)
			if len(cfg.Host) > 0 && len(cfg.RelayHost) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: without --relay-host, %s (whose key every relay holds) names the CM's "+
					"hosts too; clients still refuse it for the CM (it is the relays'), but give the relays' own names "+
					"with --relay-host\n", certs.CSCertFile)
			}
			for _, id := range cfg.Relay {
				printRelayFiles(cmd, cfg.Dir, id)
			}
			return nil
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	f.String("dir", "certs", "directory to write to")
	f.String("algorithm", string(certs.AlgRSA4096), "key algorithm of the CA and TLS certificates: rsa4096 or p384")
	f.StringSlice("host", nil, "DNS names or IP addresses the CM's certificate is valid for, and the CS's without --relay-host (default localhost, 127.0.0.1, ::1)")
	f.StringSlice("relay-host", nil, "DNS names or IP addresses the relays' shared certificate (cs.crt) is valid for (default: the --host names)")
	f.StringSlice("relay", nil, "id of a vendor relay to issue its own client certificate for (repeat for each relay; later ones: portcullis certs relay)")
	f.Bool("force", false, "overwrite existing keys")
	return cmd
}

// certsRelayConfig is the configuration of 'certs relay'.
type certsRelayConfig struct {
	Dir       string `mapstructure:"dir"`
	ID        string `mapstructure:"id"`
	Algorithm string `mapstructure:"algorithm"`
	Force     bool   `mapstructure:"force"`
}

func newCertsRelayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Issue a vendor relay its own client certificate (CN relay:<id>), signed by the CA in --dir",
		Long: "Issue a vendor relay its own client certificate (CN relay:<id>) and key, signed by the CA that\n" +
			"'portcullis certs init' wrote to --dir. The relay proves its id to the CM with it: the CM binds\n" +
			"every report, registration and command poll of the relay to that id. A tenant's private relay\n" +
			"needs none: it enrols with a relay enrollment token instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg certsRelayConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			err := certs.IssueRelay(cfg.Dir, cfg.ID, certs.RelayOptions{Algorithm: certs.Algorithm(cfg.Algorithm), Force: cfg.Force})
			if errors.Is(err, certs.ErrExists) {
				return fmt.Errorf("%w: relay %s has a certificate already; run again with --force to replace it", err, cfg.ID)
			}
			if err != nil {
				return err
			}
			printRelayFiles(cmd, cfg.Dir, cfg.ID)
			return nil
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	f.String("dir", "certs", "directory with the CA (ca.crt, ca.key); the relay's files are written there")
	f.String("id", "", "the relay's id, as 'portcullis cs --id' names it (required)")
	f.String("algorithm", "", "key algorithm of the relay's key: rsa4096 or p384 (default: the CA's)")
	f.Bool("force", false, "overwrite the relay's existing certificate and key")
	markRequired(cmd, "id")
	return cmd
}

// certsLogKeyConfig is the configuration of 'certs log-key'.
type certsLogKeyConfig struct {
	Dir string `mapstructure:"dir"`
}

func newCertsLogKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log-key",
		Short: "Create the decision log's signing key (log.key) and verifier key (log.pub) in --dir",
		Long: "Create the key that signs every decision record and the decision log's checkpoints, for a\n" +
			"certificates directory made before the log had one ('portcullis certs init' writes it).\n" +
			"Copy log.key to every CM replica, and give log.pub to the reviewers who verify the log.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg certsLogKeyConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			if err := certs.InitLogKey(cfg.Dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(cfg.Dir, certs.LogKeyFile), filepath.Join(cfg.Dir, certs.LogPubFile))
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().String("dir", "certs", "the CM's certificates directory")
	return cmd
}

// printRelayFiles tells the operator which files relay id needs.
func printRelayFiles(cmd *cobra.Command, dir, id string) {
	files := []string{certs.CAFile, certs.CSCertFile, certs.CSKeyFile, certs.RelayCertFile(id), certs.RelayKeyFile(id)}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote relay %s's certificate %s; copy %s to its certs directory\n",
		id, filepath.Join(dir, certs.RelayCertFile(id)), strings.Join(files, ", "))
}
