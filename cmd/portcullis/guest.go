package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/identity"
)

// guestConfig is what every Guest command needs: where the CM is and where tokens live.
type guestConfig struct {
	CM        string `mapstructure:"cm"`
	CAFile    string `mapstructure:"ca-file"`
	ConfigDir string `mapstructure:"config-dir"`
	Level     string `mapstructure:"encryption"`
	Preferred string `mapstructure:"preferred-protocol"`
	// Verbose prints where a session goes (the -v of the commands that open one).
	Verbose        bool `mapstructure:"verbose"`
	sessionRuntime `mapstructure:",squash"`
}

// execConfig is the configuration of 'exec' and 'ssh', which may run a remote command.
type execConfig struct {
	guestConfig `mapstructure:",squash"`
	// NoStdin gives the remote command no input (-n).
	NoStdin bool `mapstructure:"no-stdin"`
}

func addGuestFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addConfigFlag(cmd)
	addCMFlag(f)
	f.String("ca-file", "", "CA certificate of the CM and CS, trusted besides the system roots")
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
func loadGuest(cmd *cobra.Command) (guestConfig, *guest.Client, error) {
	var cfg guestConfig
	if err := loadConfig(cmd, &cfg); err != nil {
		return cfg, nil, err
	}
	g, err := cfg.guest(cmd.Context())
	return cfg, g, err
}

// stores returns the token cache and the credential store of the Guest's directory.
func (g guestConfig) stores() (identity.TokenCache, guest.CredentialStore, error) {
	dir, err := g.dir()
	if err != nil {
		return identity.TokenCache{}, guest.CredentialStore{}, err
	}
	return identity.TokenCache{Dir: dir}, guest.CredentialStore{Dir: dir}, nil
}

// cmURL is the CM's URL without a trailing slash.
func (g guestConfig) cmURL() string { return strings.TrimSuffix(g.CM, "/") }

// identityConfig asks the CM how to sign in (GET /v1/auth/config).
func (g guestConfig) identityConfig(ctx context.Context, hc *http.Client) (identity.Config, error) {
	if err := checkCMURL("cm", g.CM); err != nil {
		return identity.Config{}, err
	}
	var ac api.AuthConfig
	if err := api.Call(ctx, hc, http.MethodGet, g.cmURL()+api.PathAuthConfig, "", nil, &ac); err != nil {
		return identity.Config{}, fmt.Errorf("ask the CM how to sign in: %w", err)
	}
	return identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, ClientSecret: ac.ClientSecret, Scopes: ac.Scopes, HTTPClient: hc}, nil
}

// guest returns a client for the signed-in user. When the ID token or the key-bound
// credential has expired (or is about to), it renews the sign-in with the refresh token and
// obtains a new credential first, silently.
func (g guestConfig) guest(ctx context.Context) (*guest.Client, error) {
	if err := checkCMURL("cm", g.CM); err != nil {
		return nil, err
	}
	trust, err := optionalTrust(g.CAFile)
	if err != nil {
		return nil, err
	}
	cache, creds, err := g.stores()
	if err != nil {
		return nil, err
	}
	tok, err := cache.Load(g.CM)
	if err != nil {
		return nil, fmt.Errorf("not signed in to %s (run 'portcullis login --cm %s'): %w", g.CM, g.CM, err)
	}
	cred, leaf, credErr := creds.Load(g.CM)
	now := time.Now()
	if credErr != nil || !guest.Usable(tok.Expiry, now) || !guest.Usable(leaf.NotAfter, now) {
		// Renewal talks to the identity provider too: the whole pool, system roots loaded.
		pool, err := optionalPool(g.CAFile)
		if err != nil {
			return nil, err
		}
		if tok, cred, err = g.renew(ctx, httpsClient(pool), tok); err != nil {
			return nil, err
		}
	}
	return &guest.Client{CMURL: g.cmURL(), Trust: trust, IDToken: tok.IDToken, Credential: cred, Encryption: g.Level,
		Probes:    &guest.ProbeCache{Dir: creds.Dir},
		Challenge: guest.TerminalChallenge(ctx), PreferredProtocol: g.Preferred, Warnings: os.Stderr}, nil
}

// asGuest builds a command's RunE that loads the Guest settings, signs in from the cache
// (renewing silently when needed) and runs fn as that user.
func asGuest(fn func(cmd *cobra.Command, g *guest.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		_, g, err := loadGuest(cmd)
		if err != nil {
			return err
		}
		return fn(cmd, g, args)
	}
}

// renew refreshes the sign-in and exchanges the new ID token for a new credential.
func (g guestConfig) renew(ctx context.Context, hc *http.Client, tok *identity.Token) (*identity.Token, tls.Certificate, error) {
	relogin := fmt.Sprintf("run 'portcullis login --cm %s'", g.CM)
	if tok.RefreshToken == "" {
		return nil, tls.Certificate{}, fmt.Errorf("the sign-in to %s expired at %s: %s", g.CM, tok.Expiry.Format(time.RFC3339), relogin)
	}
	icfg, err := g.identityConfig(ctx, hc)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	fresh, err := identity.Refresh(ctx, icfg, tok)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("the sign-in to %s could not be renewed (%w): %s", g.CM, err, relogin)
	}
	cache, creds, err := g.stores()
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	if err := cache.Save(g.CM, fresh); err != nil {
		return nil, tls.Certificate{}, err
	}
	cred, _, err := creds.Obtain(ctx, hc, g.CM, fresh.IDToken)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return fresh, cred, nil
}

func newExecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec HOST -- COMMAND [ARG...]",
		Short: "Run a command on a Host through a relay, with this terminal's input, and exit with its status",
		Long: "Run a command on a Host through a relay and exit with its status. Standard input is forwarded " +
			"and its end is the command's end of input, as with 'ssh HOST COMMAND' (-n: no input).",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg execConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runExec(cmd, cfg, args[0], args[1:])
		},
	}
	addSessionFlags(cmd)
	addExecFlags(cmd, "exec")
	return cmd
}

// addExecFlags adds -n to a command that runs a remote command, and makes a flag error say
// where the remote command goes.
func addExecFlags(cmd *cobra.Command, name string) {
	cmd.Flags().BoolP("no-stdin", "n", false, "Give the command no input instead of this process's standard input.")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w (the remote command goes after --: portcullis %s HOST -- COMMAND [ARG...])", err, name)
	})
}

// runExec runs command on host with this process's standard input (none with -n), as
// 'ssh HOST COMMAND' does, and exits with its status.
func runExec(cmd *cobra.Command, cfg execConfig, host string, command []string) error {
	var stdin io.Reader = cmd.InOrStdin()
	if cfg.NoStdin {
		stdin = nil
	}
	return runGuestSession(cmd, cfg.guestConfig, host, []string{"exec"}, func(ctx context.Context, s *guest.Session) (int, error) {
		return guest.Exec(ctx, s.Client, strings.Join(command, " "), stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

func newSSHCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh HOST [-- COMMAND [ARG...]]",
		Short: "Open an interactive shell on a Host through a relay, or run a command there as 'ssh HOST COMMAND' does",
		Long: "Open an interactive shell on a Host through a relay. With a COMMAND, run it instead, " +
			"with this process's standard input and no terminal, and exit with its status, as 'ssh HOST COMMAND' and 'portcullis exec' do.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg execConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			if len(args) > 1 {
				return runExec(cmd, cfg, args[0], args[1:])
			}
			return runGuestSession(cmd, cfg.guestConfig, args[0], []string{"shell"}, func(ctx context.Context, s *guest.Session) (int, error) {
				return guest.Shell(ctx, s.Client, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	addSessionFlags(cmd)
	addExecFlags(cmd, "ssh")
	return cmd
}

// runGuestSession connects to host, runs use on the session, and turns the remote exit status
// into this process's.
func runGuestSession(cmd *cobra.Command, cfg guestConfig, host string, channels []string, use func(context.Context, *guest.Session) (int, error)) error {
	if err := cfg.applyRuntime(); err != nil {
		return err
	}
	g, err := cfg.guest(cmd.Context())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	s, err := g.Connect(ctx, host, channels)
	if err != nil {
		return reportDenied(cmd, host, err)
	}
	defer s.Close()
	if cfg.Verbose {
		printSession(cmd.ErrOrStderr(), host, s)
	}
	code, err := use(ctx, s)
	if err != nil {
		return reportDenied(cmd, host, err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// printSession tells the user where the session goes, how, and why there (exec -v).
func printSession(w io.Writer, host string, s *guest.Session) {
	for _, f := range s.Failed {
		fmt.Fprintf(w, "portcullis: relay failed, asked the CM for another: %s\n", f)
	}
	fmt.Fprintf(w, "portcullis: session %s to %s via relay %s over %s, decision %s, expires %s\n",
		s.Grant.SessionID, host, s.Grant.Relay.ID, s.Transport, s.Grant.DecisionID, s.Grant.ExpiresAt.Format(time.RFC3339))
	if s.Grant.RelayReason != "" {
		fmt.Fprintf(w, "portcullis: relay chosen: %s\n", s.Grant.RelayReason)
	}
	if s.Transport == endpoint.TransportTCPPlain {
		fmt.Fprintf(w, "portcullis: relay legs without TLS (encryption level %s): the end-to-end SSH is the session's only encryption\n", access.LevelFast)
	}
	if m, ok := s.Client.Conn.(ssh.AlgorithmsConnMetadata); ok {
		fmt.Fprintf(w, "portcullis: end-to-end SSH with the Host: %s\n", describeAlgorithms(m.Algorithms()))
	}
}

// describeAlgorithms names what the Guest and the Host negotiated: key exchange, host key,
// cipher and (for a cipher that is not AEAD) MAC, each way when the two directions differ.
func describeAlgorithms(a ssh.NegotiatedAlgorithms) string {
	dir := func(d ssh.DirectionAlgorithms) string {
		if d.MAC == "" {
			return "cipher " + d.Cipher
		}
		return "cipher " + d.Cipher + " with MAC " + d.MAC
	}
	ciphers := dir(a.Write)
	if a.Read != a.Write {
		ciphers = "to the Host " + dir(a.Write) + ", from the Host " + dir(a.Read)
	}
	return fmt.Sprintf("key exchange %s, host key %s, %s", a.KeyExchange, a.HostKey, ciphers)
}

// reportDenied prints a refusal, by the policy (with its reasons) or by the Host (with its
// reason only), and turns it into the one exit status of refusals (77, as access.ErrDenied);
// other errors come back unchanged.
func reportDenied(cmd *cobra.Command, host string, err error) error {
	var denied *guest.DeniedError
	var refused *endpoint.RefusedError
	if errors.As(err, &refused) {
		fmt.Fprintf(cmd.ErrOrStderr(), "portcullis: %s refused the session (%s): %s\n", host, refused.Code, refused.Message)
		return &exitError{code: access.ErrDenied.ExitCode()}
	}
	if !errors.As(err, &denied) {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "portcullis: access to %s denied (decision %s)\n", host, denied.DecisionID)
	for _, r := range denied.Reasons {
		fmt.Fprintf(cmd.ErrOrStderr(), "  - %s\n", r)
	}
	return &exitError{code: access.ErrDenied.ExitCode()}
}

// addSessionFlags adds the flags of commands that open a session.
func addSessionFlags(cmd *cobra.Command) {
	addGuestFlags(cmd)
	cmd.Flags().String("encryption", "very_high", "encryption level: very_high, high, medium or fast (very_high's SSH algorithms, relay legs without TLS where the policy allows it)")
	cmd.Flags().BoolP("verbose", "v", false, "print the session, relay, transport and decision ids on stderr")
	cmd.Flags().String("preferred-protocol", "auto", "how to reach the relay: auto (TCP/1970, then HTTP/80), tcp or http")
	addSessionRuntimeFlags(cmd.Flags())
}
