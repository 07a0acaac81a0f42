package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/api"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage one-time enrollment tokens for Hosts and tenants' private relays (administrators)",
	}
	cmd.AddCommand(newTokenCreateCmd())
	return cmd
}

// tokenCreateConfig is the configuration of 'token create'.
type tokenCreateConfig struct {
	guestConfig `mapstructure:",squash"`
	Tags        map[string]string `mapstructure:"tags"`
	Tenant      string            `mapstructure:"tenant"`
	TTL         time.Duration     `mapstructure:"ttl"`
	Kind        string            `mapstructure:"kind"`
}

func newTokenCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a one-time enrollment token that scopes the Host (or relay) to tags and a tenant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg tokenCreateConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			g, err := cfg.guest(cmd.Context())
			if err != nil {
				return err
			}
			req := api.EnrollmentTokenRequest{Tags: cfg.Tags, Tenant: cfg.Tenant, Kind: cfg.Kind, TTLSeconds: int64(cfg.TTL / time.Second)}
			var resp api.EnrollmentTokenResponse
			if err := api.Call(cmd.Context(), g.HTTPClient(), http.MethodPost, g.CMURL+api.PathEnrollmentTokens, g.IDToken, req, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.Token)
			return nil
		},
	}
	addGuestFlags(cmd)
	cmd.Flags().StringToString("tags", nil, "tags of the Host, e.g. env=prod,team=data")
	cmd.Flags().String("tenant", "", "tenant of the Host")
	cmd.Flags().Duration("ttl", 24*time.Hour, "how long the token stays valid")
	cmd.Flags().String("kind", "host", "what enrols with the token: host, or relay (a tenant's private Connection Server)")
	return cmd
}
