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

func newTokenCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a one-time enrollment token that scopes the Host (or relay) to tags and a tenant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, g, err := loadGuest(cmd)
			if err != nil {
				return err
			}
			tags, _ := cmd.Flags().GetStringToString("tags")
			tenant, _ := cmd.Flags().GetString("tenant")
			ttl, _ := cmd.Flags().GetDuration("ttl")
			kind, _ := cmd.Flags().GetString("kind")
			req := api.EnrollmentTokenRequest{Tags: tags, Tenant: tenant, Kind: kind, TTLSeconds: int64(ttl / time.Second)}
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
