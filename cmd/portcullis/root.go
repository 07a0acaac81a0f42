package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "Policy-centric zero-trust remote access gateway",
		Long:          "Portcullis lets a user who signed in with SSO remotely control a device behind a firewall that opens no inbound port.\nEvery connection is decided by Rego policy at the Connection Manager, relayed by a Connection Server that cannot read it, and recorded in a decision log.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newCMCmd(), newCSCmd(), newHostCmd(),
		newLoginCmd(), newLogoutCmd(), newStatusCmd(), newExecCmd(), newSSHCmd(),
		newProxyCmd(), newConfigCmd(), newHostsCmd(), newForwardCmd(), newCpCmd(), newSFTPServerCmd(),
		newCertsCmd(), newTokenCmd(), newDemoCmd(),
		newPolicyCmd(), newLogsCmd(),
		newSessionsCmd(), newRelaysCmd(), newLockCmd(), newUnlockCmd(), newLocksCmd(), newReevaluateCmd(),
		newVersionCmd(),
	)
	plainBoolFlags(root)
	setVersion(root)
	return root
}

// plainBoolFlags makes c's and its subcommands' boolean flags show in help as --force rather than
// pflag's --force[=true|false]; they still parse --force, --force=true and --force=false.
func plainBoolFlags(c *cobra.Command) {
	c.InitDefaultHelpFlag()
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			f.NoOptDefVal = "true"
			f.Value = plainBool{f.Value}
		}
	})
	for _, sub := range c.Commands() {
		plainBoolFlags(sub)
	}
}

// plainBool is a boolean flag value that does not call itself one (no IsBoolFlag method), which
// is what makes pflag print [=true|false] after its name; NoOptDefVal keeps --flag alone true.
type plainBool struct{ pflag.Value }

// addConfigFlag adds --config to a command whose settings load through loadConfig.
func addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "YAML configuration file (settings: the long flag names; env: PORTCULLIS_<FLAG_NAME>)")
}

// loadConfig fills out from, in rising precedence: flag defaults, the YAML file named by
// --config, PORTCULLIS_* environment variables, and flags given on the command line. Keys are
// the long flag names; in the environment, dashes become underscores. A daemon's logger
// (logConfig) writes to the command's error stream.
func loadConfig(cmd *cobra.Command, out any) error {
	v := viper.New()
	v.SetEnvPrefix("PORTCULLIS")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == "help" {
			return
		}
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	})
	if bindErr != nil {
		return fmt.Errorf("bind flags: %w", bindErr)
	}
	if file, _ := cmd.Flags().GetString("config"); file != "" {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("read config %s: %w", file, err)
		}
	}
	applyRenamedFlags(v, cmd.Flags())
	if err := v.Unmarshal(out); err != nil {
		return fmt.Errorf("decode configuration: %w", err)
	}
	if lc, ok := out.(interface{ setLogOutput(io.Writer) }); ok {
		lc.setLogOutput(cmd.ErrOrStderr())
	}
	return nil
}
