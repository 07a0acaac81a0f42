package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
)

// sshSuffix is the default domain under which ssh_config names Hosts (web-1.portcullis).
const sshSuffix = ".portcullis"

// knownHostsFile is the known_hosts file the proxy maintains in the Guest's config directory.
const knownHostsFile = "known_hosts"

// proxyConfig is the configuration of 'proxy'.
type proxyConfig struct {
	guestConfig `mapstructure:",squash"`
	Suffix      string   `mapstructure:"suffix"`
	Channels    []string `mapstructure:"channels"`
}

// configSSHConfig is the configuration of 'config ssh'.
type configSSHConfig struct {
	guestConfig `mapstructure:",squash"`
	Pattern     string `mapstructure:"pattern"`
}

func newProxyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy HOST",
		Short: "Carry an OpenSSH connection to a Host through a relay (use as ssh's ProxyCommand; see 'portcullis config ssh')",
		Long: "Proxy asks the CM to connect to HOST (a trailing --suffix is removed), adds the fresh session key and its certificate to " +
			"the ssh-agent at SSH_AUTH_SOCK, pins the Host key in the config directory's known_hosts under the name ssh was given, " +
			"then pipes stdin and stdout through the relay. ssh runs SSH end to end with the Host.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg proxyConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			g, err := cfg.guest(cmd.Context())
			if err != nil {
				return err
			}
			return runProxy(cmd, cfg.guestConfig, g, args[0], cfg.Suffix, cfg.Channels)
		},
	}
	addSessionFlags(cmd)
	cmd.Flags().String("suffix", sshSuffix, "domain suffix removed from HOST to get the Host's name")
	cmd.Flags().StringSlice("channels", []string{"shell", "exec", "sftp"}, "channel kinds to ask for")
	return cmd
}

func runProxy(cmd *cobra.Command, cfg guestConfig, g *guest.Client, alias, suffix string, channels []string) error {
	if err := cfg.applyRuntime(); err != nil {
		return err
	}
	dir, err := cfg.dir()
	if err != nil {
		return err
	}
	ag, closer, err := guest.DialAgent()
	if err != nil {
		return err
	}
	defer closer.Close()
	p := &guest.OpenSSHProxy{Guest: g, Agent: ag, KnownHosts: filepath.Join(dir, knownHostsFile), Channels: channels}
	host := strings.TrimSuffix(alias, suffix)
	// ssh ends its ProxyCommand with SIGHUP: end gracefully, so the session key leaves the agent.
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP)
	defer stop()
	return reportDenied(cmd, host, p.Run(ctx, host, alias, cmd.InOrStdin(), cmd.OutOrStdout()))
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Print configuration for other tools"}
	ssh := &cobra.Command{
		Use:   "ssh",
		Short: "Print the ssh_config block that makes ssh, scp and sftp reach Hosts as NAME.portcullis",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg configSSHConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			g, err := cfg.guest(cmd.Context())
			if err != nil {
				return err
			}
			return runConfigSSH(cmd, cfg.guestConfig, g, cfg.Pattern, cmd.OutOrStdout())
		},
	}
	addSessionFlags(ssh)
	ssh.Flags().String("pattern", "*"+sshSuffix, "ssh_config Host pattern; its leading * is the Host name")
	cmd.AddCommand(ssh)
	return cmd
}

// runConfigSSH asks the CM for the user's principal (the SSH user name) and prints the block.
func runConfigSSH(cmd *cobra.Command, cfg guestConfig, g *guest.Client, pattern string, out io.Writer) error {
	principal, err := g.Principal(cmd.Context())
	if err != nil {
		return err
	}
	dir, err := cfg.dir()
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate the portcullis binary: %w", err)
	}
	dir, _ = filepath.Abs(dir)
	proxy := []string{quote(sshConfigPath(bin)), "proxy", "--cm", quote(cfg.CM), "--config-dir", quote(sshConfigPath(dir)), "--encryption", cfg.Level,
		"--suffix", quote(strings.TrimPrefix(pattern, "*"))}
	if cfg.CAFile != "" {
		ca, _ := filepath.Abs(cfg.CAFile)
		proxy = append(proxy, "--ca-file", quote(sshConfigPath(ca)))
	}
	algs, err := endpoint.Algorithms(cfg.Level)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `# Portcullis: ssh, scp and sftp reach Host NAME as NAME%s through a relay.
# The session key and certificate go to your ssh-agent (SSH_AUTH_SOCK must be set);
# the Host key the CM pins is written to %s.
Host %s
    User %s
    ProxyCommand %s %%h
    UserKnownHostsFile %s
    StrictHostKeyChecking yes
    PasswordAuthentication no
    ControlMaster no
    Ciphers %s
`, strings.TrimPrefix(pattern, "*"), filepath.Join(dir, knownHostsFile), pattern, principal,
		strings.Join(proxy, " "), quote(sshConfigPath(filepath.Join(dir, knownHostsFile))),
		// The level's ciphers in its order (AES-256-GCM first): OpenSSH takes the first of its
		// own list that the Host offers, and its default list puts the slower CTR modes first.
		strings.Join(algs.Ciphers, ","))
	return nil
}

// quote wraps s in double quotes when ssh_config would split it.
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"'") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}
