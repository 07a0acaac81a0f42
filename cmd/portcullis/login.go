package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/internal/browser"
)

// loginConfig adds the sign-in flow choice to the Guest settings.
type loginConfig struct {
	guestConfig `mapstructure:",squash"`
	Device      bool `mapstructure:"device"`
	NoBrowser   bool `mapstructure:"no-browser"`
}

func newLoginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in through the identity provider the CM names, and obtain a credential bound to a key kept here",
		Long: "Sign in through the identity provider the CM names (GET /v1/auth/config): by default in a browser\n" +
			"(authorization code with PKCE, redirect to 127.0.0.1), with --device by entering a code on another\n" +
			"device. The tokens are cached per CM (mode 0600); a fresh key is generated here and the CM issues a\n" +
			"short-lived client certificate for it, without which the tokens alone connect nowhere.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg loginConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogin(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	cmd.Flags().Bool("device", false, "use the device authorization grant (for machines without a browser)")
	cmd.Flags().Bool("no-browser", false, "print the sign-in address instead of opening a browser")
	return cmd
}

func runLogin(ctx context.Context, cfg loginConfig, out io.Writer) error {
	pool, err := optionalPool(cfg.CAFile)
	if err != nil {
		return err
	}
	hc := httpsClient(pool)
	icfg, err := cfg.identityConfig(ctx, hc)
	if err != nil {
		return err
	}
	tok, err := signIn(ctx, cfg, icfg, out)
	if err != nil {
		return loginFailure(err)
	}
	cache, creds, err := cfg.stores()
	if err != nil {
		return err
	}
	if err := cache.Save(cfg.CM, tok); err != nil {
		return err
	}
	_, leaf, err := creds.Obtain(ctx, hc, cfg.CM, tok.IDToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Signed in to %s as %s (credential valid until %s)\n", cfg.CM,
		strings.TrimPrefix(leaf.Subject.CommonName, "user:"), leaf.NotAfter.Local().Format(time.RFC3339))
	return nil
}

// signIn runs the browser or the device flow.
func signIn(ctx context.Context, cfg loginConfig, icfg identity.Config, out io.Writer) (*identity.Token, error) {
	if cfg.Device {
		return identity.DeviceLogin{Config: icfg, Prompt: func(uri, code string) {
			fmt.Fprintf(out, "To sign in, open %s and enter the code %s\n", uri, code)
		}}.Run(ctx)
	}
	return identity.BrowserLogin{Config: icfg, Open: func(authURL string) error {
		fmt.Fprintf(out, "To sign in, open this address in a browser (waiting for it):\n\n  %s\n\n", authURL)
		if !cfg.NoBrowser {
			_ = browser.Open(ctx, authURL) // the printed address is the fallback
		}
		return nil
	}}.Run(ctx)
}

// loginFailure turns how a sign-in ended into a message a person can act on.
func loginFailure(err error) error {
	switch {
	case errors.Is(err, identity.ErrLoginDenied):
		return fmt.Errorf("sign-in denied: %w", err)
	case errors.Is(err, identity.ErrLoginExpired):
		return fmt.Errorf("sign-in expired before it was completed; run 'portcullis login' again: %w", err)
	case errors.Is(err, identity.ErrLoginCanceled):
		return fmt.Errorf("sign-in cancelled: %w", err)
	}
	return fmt.Errorf("sign-in failed: %w", err)
}

func newLogoutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Sign out: revoke the refresh token at the identity provider and delete the cached tokens and credential",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg guestConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runLogout(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addGuestFlags(cmd)
	return cmd
}

func runLogout(ctx context.Context, cfg guestConfig, out io.Writer) error {
	cache, creds, err := cfg.stores()
	if err != nil {
		return err
	}
	tok, loadErr := cache.Load(cfg.CM)
	if loadErr == nil {
		revokeAtProvider(ctx, cfg, tok, out)
	}
	if err := errors.Join(cache.Delete(cfg.CM), creds.Delete(cfg.CM), (guest.ProbeCache{Dir: creds.Dir}).Delete(cfg.cmURL())); err != nil {
		return err
	}
	if loadErr != nil {
		fmt.Fprintf(out, "Not signed in to %s\n", cfg.CM)
		return nil
	}
	fmt.Fprintf(out, "Signed out of %s\n", cfg.CM)
	return nil
}

// revokeAtProvider revokes tok where the provider supports it and says what happened; a
// failure does not stop the local sign-out.
func revokeAtProvider(ctx context.Context, cfg guestConfig, tok *identity.Token, out io.Writer) {
	pool, err := optionalPool(cfg.CAFile)
	if err == nil {
		var icfg identity.Config
		if icfg, err = cfg.identityConfig(ctx, httpsClient(pool)); err == nil {
			err = identity.Revoke(ctx, icfg, tok)
		}
	}
	switch {
	case err == nil:
		fmt.Fprintln(out, "Revoked the refresh token at the identity provider")
	case errors.Is(err, identity.ErrRevocationUnsupported):
		fmt.Fprintln(out, "The identity provider offers no revocation; the tokens expire on their own")
	default:
		fmt.Fprintf(out, "Could not revoke the refresh token (%v); deleting it here anyway\n", err)
	}
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show who you are signed in as at the CM, your groups, and when the sign-in and credential expire",
		Args:  cobra.NoArgs,
		RunE: asGuest(func(cmd *cobra.Command, g *guest.Client, _ []string) error {
			var me api.WhoAmI
			if err := api.Call(cmd.Context(), g.HTTPClient(), "GET", g.CMURL+api.PathWhoAmI, g.IDToken, nil, &me); err != nil {
				return fmt.Errorf("ask the CM who you are: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "CM:          %s\nUser:        %s\nIssuer:      %s\nGroups:      %s\nMethods:     %s\n",
				g.CMURL, me.Subject, me.Issuer, strings.Join(me.Groups, ", "), strings.Join(me.AMR, ", "))
			fmt.Fprintf(out, "Signed in until:  %s\nCredential until: %s\n",
				me.TokenExpiresAt.Local().Format(time.RFC3339), me.CredentialExpiresAt.Local().Format(time.RFC3339))
			return nil
		}),
	}
	addGuestFlags(cmd)
	return cmd
}
