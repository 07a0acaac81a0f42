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
	root.InitDefaultCompletionCmd()
	refuseUnknownSubcommands(root)
	plainBoolFlags(root)
	setVersion(root)
	return root
}

// refuseUnknownSubcommands makes c and every group command under it (one that only holds
// subcommands) refuse an unknown subcommand with an error, and so a non-zero exit status,
// instead of printing its help as cobra does; with no argument, a group still prints its help.
// A command that runs itself besides holding subcommands (hosts) keeps its own arguments, and
// names the subcommands close to one it refuses.
func refuseUnknownSubcommands(c *cobra.Command) {
	if c.HasSubCommands() {
		c.SuggestionsMinimumDistance = 2 // as cobra's own for the root command
		if !c.Runnable() {
			c.Args = unknownSubcommand
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		} else if own := c.Args; own != nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				err := own(cmd, args)
				if err != nil && len(args) > 0 {
					return unknownSubcommand(cmd, args)
				}
				return err
			}
		}
	}
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

// unknownSubcommand refuses any argument of a group command: cobra found no subcommand of
// that name.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
	}
	return fmt.Errorf("%s; run '%s --help' for its commands", msg, cmd.CommandPath())
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
// the long flag names; in the environment, dashes become underscores. Every flag of the command
// is a setting and must be read from out, never with cmd.Flags().GetX, which sees only the
// flag. A key of the file that is no setting of the command, and a required setting
// (markRequired) that none of the three gives, are refused before anything runs. A daemon's
// logger (logConfig) writes to the command's error stream.
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
		// The file's own keys, read apart: every one must be a setting of the command.
		fileOnly := viper.New()
		fileOnly.SetConfigFile(file)
		if err := fileOnly.ReadInConfig(); err != nil {
			return fmt.Errorf("read config %s: %w", file, err)
		}
		if err := checkFileKeys(file, fileOnly, cmd.Flags()); err != nil {
			return err
		}
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("read config %s: %w", file, err)
		}
	}
	applyRenamedFlags(v, cmd.Flags())
	if err := checkRequired(v, cmd.Flags()); err != nil {
		return err
	}
	if err := v.Unmarshal(out, decodeKeyValues); err != nil {
		return fmt.Errorf("decode configuration: %w", err)
	}
	if lc, ok := out.(interface{ setLogOutput(io.Writer) }); ok {
		lc.setLogOutput(cmd.ErrOrStderr())
	}
	if ctx := cmd.Context(); ctx != nil {
		if probe, ok := ctx.Value(configProbeKey{}).(configProbe); ok {
			return probe(cmd, out)
		}
	}
	return nil
}

// configProbeKey is the context key of a configProbe.
type configProbeKey struct{}

// configProbe, when a command's context carries one, is called by loadConfig with the
// configuration it loaded and ends the command with its error: tests use it to see which
// settings each command reads, without running it.
type configProbe func(cmd *cobra.Command, out any) error
