package identity

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"
)

// WebClient returns the OAuth 2.0 client of a web application that signs people in with the
// authorization code flow and PKCE at redirectURL (the CM's web console), and the HTTP client
// that talks to the provider. It discovers the provider's endpoints.
func WebClient(ctx context.Context, c Config, redirectURL string) (*oauth2.Config, *http.Client, error) {
	oc, cfg, err := publicClient(ctx, c, false)
	if err != nil {
		return nil, nil, err
	}
	oc.RedirectURL = redirectURL
	return oc, cfg.HTTPClient, nil
}
