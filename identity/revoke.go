package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/portcullis/portcullis/access"
)

// ErrRevocationUnsupported: the provider announces no revocation_endpoint (RFC 7009), so a
// sign-out can only forget the tokens locally.
var ErrRevocationUnsupported = errors.New("identity: the identity provider offers no token revocation")

// maxRevokeAnswerBytes bounds the error body read from a revocation endpoint.
const maxRevokeAnswerBytes = 4 << 10

// Revoke asks the provider to revoke t's refresh token (or its access token when there is
// none) as RFC 7009 describes, for the public client cfg names. It returns
// ErrRevocationUnsupported when the provider announces no revocation endpoint.
func Revoke(ctx context.Context, c Config, t *Token) error {
	if err := c.Validate(); err != nil {
		return err
	}
	cfg := c.withDefaults()
	token, hint := t.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = t.AccessToken, "access_token"
	}
	if token == "" {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, cfg.HTTPClient), cfg.Issuer)
	if err != nil {
		return fmt.Errorf("%w: discovery of %s: %w", access.ErrProviderUnavailable, cfg.Issuer, err)
	}
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.Revocation == "" {
		return ErrRevocationUnsupported
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {cfg.ClientID}}
	if cfg.ClientSecret != "" {
		form.Set("client_secret", cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.Revocation, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("identity: revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("identity: revoke at %s: %w", meta.Revocation, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRevokeAnswerBytes))
		return fmt.Errorf("identity: revoke at %s: HTTP %d: %s", meta.Revocation, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
