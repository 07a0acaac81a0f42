package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/identity"
)

// guestConfig is what every Guest command needs: where the CM is and where tokens live.
type guestConfig struct {
	CM        string `mapstructure:"cm"`
	CAFile    string `mapstructure:"ca-file"`
	ConfigDir string `mapstructure:"config-dir"`
	Device    bool   `mapstructure:"device"`
	Level     string `mapstructure:"encryption"`
	Preferred string `mapstructure:"preferred-protocol"`
}

func addGuestFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addConfigFlag(cmd)
	f.String("cm", "https://127.0.0.1:8443", "the Connection Manager's URL")
	f.String("ca-file", "", "CA certificate of the CM and CS (default: system roots)")
	f.String("config-dir", "", "where signed-in credentials are cached (default: the user's config dir/portcullis)")
}

func (g guestConfig) cache() (identity.TokenCache, error) {
	dir, err := g.dir()
	if err != nil {
		return identity.TokenCache{}, err
	}
	return identity.TokenCache{Dir: dir}, nil
}

// dir is the Guest's configuration directory.
func (g guestConfig) dir() (string, error) {
	if g.ConfigDir != "" {
		return g.ConfigDir, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config dir: %w", err)
	}
	return filepath.Join(base, "portcullis"), nil
}

// loadGuest loads a Guest command's configuration and the signed-in user's client.
func loadGuest(cmd *cobra.Command) (guestConfig, *endpoint.Guest, error) {
	var cfg guestConfig
	if err := loadConfig(cmd, &cfg); err != nil {
		return cfg, nil, err
	}
	g, err := cfg.guest()
	return cfg, g, err
}

// guest returns a client for the signed-in user.
func (g guestConfig) guest() (*endpoint.Guest, error) {
	pool, err := optionalPool(g.CAFile)
	if err != nil {
		return nil, err
	}
	cache, err := g.cache()
	if err != nil {
		return nil, err
	}
	tok, err := cache.Load(g.CM)
	if err != nil {
		return nil, fmt.Errorf("not signed in to %s (run 'portcullis login --cm %s'): %w", g.CM, g.CM, err)
	}
	if !tok.Expiry.IsZero() && time.Now().After(tok.Expiry) {
		return nil, fmt.Errorf("the sign-in to %s expired at %s: run 'portcullis login --cm %s'", g.CM, tok.Expiry.Format(time.RFC3339), g.CM)
	}
	return &endpoint.Guest{CMURL: strings.TrimSuffix(g.CM, "/"), RootCAs: pool, IDToken: tok.IDToken, Encryption: g.Level,
		Challenge: endpoint.TerminalChallenge(), PreferredProtocol: g.Preferred}, nil
}

func newLoginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in through the identity provider the CM names (OAuth 2.0 device authorization grant)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg guestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogin(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	cmd.Flags().Bool("device", true, "use the device authorization grant (for machines without a browser)")
	return cmd
}

func runLogin(ctx context.Context, cfg guestConfig, out io.Writer) error {
	pool, err := optionalPool(cfg.CAFile)
	if err != nil {
		return err
	}
	hc := httpsClient(pool)
	var ac api.AuthConfig
	if err := api.Call(ctx, hc, http.MethodGet, strings.TrimSuffix(cfg.CM, "/")+api.PathAuthConfig, "", nil, &ac); err != nil {
		return fmt.Errorf("ask the CM how to sign in: %w", err)
	}
	login := identity.DeviceLogin{
		Config: identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, Scopes: ac.Scopes, HTTPClient: hc},
		Prompt: func(uri, code string) {
			fmt.Fprintf(out, "To sign in, open %s and enter the code %s\n", uri, code)
		},
	}
	tok, err := login.Run(ctx)
	if err != nil {
		return fmt.Errorf("sign-in failed: %w", err)
	}
	cache, err := cfg.cache()
	if err != nil {
		return err
	}
	if err := cache.Save(cfg.CM, tok); err != nil {
		return err
	}
	fmt.Fprintf(out, "Signed in to %s (until %s)\n", cfg.CM, tok.Expiry.Format(time.RFC3339))
	return nil
}

func newExecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec HOST -- COMMAND [ARG...]",
		Short: "Run a command on a Host through a relay and exit with its status",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg guestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runGuestSession(cmd, cfg, args[0], []string{"exec"}, func(ctx context.Context, s *endpoint.Session) (int, error) {
				return endpoint.Exec(ctx, s.Client, strings.Join(args[1:], " "), cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	addSessionFlags(cmd)
	return cmd
}

func newSSHCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh HOST",
		Short: "Open an interactive shell on a Host through a relay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg guestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runGuestSession(cmd, cfg, args[0], []string{"shell"}, func(ctx context.Context, s *endpoint.Session) (int, error) {
				return endpoint.Shell(ctx, s.Client, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	addSessionFlags(cmd)
	return cmd
}

// runGuestSession connects to host, runs use on the session, and turns the remote exit status
// into this process's.
func runGuestSession(cmd *cobra.Command, cfg guestConfig, host string, channels []string, use func(context.Context, *endpoint.Session) (int, error)) error {
	g, err := cfg.guest()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	s, err := g.Connect(ctx, host, channels)
	if err != nil {
		return reportDenied(cmd, host, err)
	}
	defer s.Close()
	if verbose, _ := cmd.Flags().GetBool("verbose"); verbose {
		printSession(cmd.ErrOrStderr(), host, s)
	}
	code, err := use(ctx, s)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// printSession tells the user where the session goes, how, and why there (exec -v).
func printSession(w io.Writer, host string, s *endpoint.Session) {
	for _, f := range s.Failed {
		fmt.Fprintf(w, "portcullis: relay failed, asked the CM for another: %s\n", f)
	}
	fmt.Fprintf(w, "portcullis: session %s to %s via relay %s over %s, decision %s, expires %s\n",
		s.Grant.SessionID, host, s.Grant.Relay.ID, s.Transport, s.Grant.DecisionID, s.Grant.ExpiresAt.Format(time.RFC3339))
	if s.Grant.RelayReason != "" {
		fmt.Fprintf(w, "portcullis: relay chosen: %s\n", s.Grant.RelayReason)
	}
}

// reportDenied prints a policy refusal with its reasons and turns it into exitDenied; other
// errors come back unchanged.
func reportDenied(cmd *cobra.Command, host string, err error) error {
	var denied *endpoint.DeniedError
	if !errors.As(err, &denied) {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "portcullis: access to %s denied (decision %s)\n", host, denied.DecisionID)
	for _, r := range denied.Reasons {
		fmt.Fprintf(cmd.ErrOrStderr(), "  - %s\n", r)
	}
	return &exitError{code: exitDenied}
}

// exitDenied is the exit status of a Guest command that the policy refused.
const exitDenied = 77

// addSessionFlags adds the flags of commands that open a session.
func addSessionFlags(cmd *cobra.Command) {
	addGuestFlags(cmd)
	cmd.Flags().String("encryption", "very_high", "encryption level: very_high, high or medium")
	cmd.Flags().BoolP("verbose", "v", false, "print the session, relay, transport and decision ids on stderr")
	cmd.Flags().String("preferred-protocol", "auto", "how to reach the relay: auto (TCP/1970, then HTTP/80), tcp or http")
}
