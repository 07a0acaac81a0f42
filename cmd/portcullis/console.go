package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/console"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// consoleRedirectURI is the web console's OIDC redirect URI for a CM reached at publicURL.
func consoleRedirectURI(publicURL string) string {
	return strings.TrimSuffix(publicURL, "/") + console.Prefix + "/callback"
}

// consoleRedirectURIs are the redirect URIs of this CM's console and of the consoles at
// others, the public URLs of CMs that trust this CM's development identity provider.
func consoleRedirectURIs(publicURL string, others []string) []string {
	uris := []string{consoleRedirectURI(publicURL)}
	for _, o := range others {
		uris = append(uris, consoleRedirectURI(o))
	}
	return uris
}

// mountConsole serves the web console at /ui: it signs people in with oidc (the CLI's
// provider and client), keeps their sessions in st (shared by every replica) and asks gw for
// every page's data.
func mountConsole(mux *http.ServeMux, gw *gateway.Server, st *store.DB, verifier *identity.Verifier, oidc identity.Config, publicURL string, keys *gateway.Keys, log *slog.Logger) error {
	lv, err := translog.NewVerifier(keys.LogSigner.VerifierKey())
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	c, err := console.New(console.Config{
		API: gw, Sessions: st, Verifier: verifier, OIDC: oidc, PublicURL: publicURL, LogVerifier: lv,
		Logger: log.With("component", "console"),
	})
	if err != nil {
		return err
	}
	mux.Handle(console.Prefix+"/", c)
	log.Info("web console", "url", strings.TrimSuffix(publicURL, "/")+console.Prefix+"/", "redirect_uri", c.RedirectURI())
	return nil
}
