// Package console is the web console the Connection Manager serves at /ui: reviewers and
// administrators sign in through the CM's OIDC provider (authorization code and PKCE) and read
// the decision log, live sessions, Hosts, relays and the policy, and lock users, Hosts and
// sessions. Every page that reads or changes data is an API call made in-process on the
// signed-in user's behalf (API.ServeAs): the same policy decides it and the decision log
// records it as that API call. Pages are server-rendered html/template with one small
// embedded script; the Content-Security-Policy admits nothing inline.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/translog"
)

// Prefix is where the CM mounts the console.
const Prefix = "/ui"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// API is the CM's API as the console uses it (gateway.Server).
type API interface {
	// ServeAs serves an API request on behalf of a user whose ID token the console verified.
	ServeAs(claims identity.Claims, w http.ResponseWriter, r *http.Request)
	// Allows tells, recording nothing, whether the policy lets the user make an operation: it
	// only decides which controls a page shows.
	Allows(ctx context.Context, claims identity.Claims, operation string) bool
}

// Verifier verifies an ID token (the CM's identity.Verifier).
type Verifier interface {
	Verify(ctx context.Context, rawIDToken string) (identity.Claims, error)
}

// Config configures a Console. API, Sessions, Verifier, OIDC and PublicURL are required.
type Config struct {
	API      API
	Verifier Verifier
	// OIDC is the CM's identity provider and client: the same as the CLI's.
	OIDC identity.Config
	// PublicURL is the CM's public base URL; the console's redirect URI is
	// PublicURL + "/ui/callback", which the provider must accept.
	PublicURL string
	// LogVerifier checks the decision log's checkpoints and proofs the pages show; nil shows
	// none.
	LogVerifier *translog.Verifier
	// Sessions keeps the signed-in sessions: the CM's store, so that every replica knows
	// them and a restart keeps them.
	Sessions Sessions
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives the console's logs; default discards.
	Logger *slog.Logger
}

// Console serves the web console. Create it with New.
type Console struct {
	cfg      Config
	redirect string
	pages    map[string]*template.Template
	mux      *http.ServeMux
	limits   limits
}

// New checks cfg and returns a Console.
func New(cfg Config) (*Console, error) {
	var errs []error
	if cfg.API == nil {
		errs = append(errs, errors.New("console: API is required"))
	}
	if cfg.Sessions == nil {
		errs = append(errs, errors.New("console: Sessions is required"))
	}
	if cfg.Verifier == nil {
		errs = append(errs, errors.New("console: Verifier is required"))
	}
	if err := cfg.OIDC.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("console: %w", err))
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("console: PublicURL %q must be an https URL", cfg.PublicURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		cfg: cfg, redirect: strings.TrimSuffix(cfg.PublicURL, "/") + Prefix + "/callback",
		pages: pages, mux: http.NewServeMux(),
	}
	c.routes()
	return c, nil
}

// RedirectURI is the console's OIDC redirect URI, to register with the provider.
func (c *Console) RedirectURI() string { return c.redirect }

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET "+Prefix+"/signin", c.handleSignInPage)
	c.mux.HandleFunc("GET "+Prefix+"/login", c.handleLogin)
	c.mux.HandleFunc("GET "+Prefix+"/callback", c.handleCallback)
	c.mux.HandleFunc("POST "+Prefix+"/logout", c.signedIn(c.handleLogout))
	c.mux.HandleFunc("GET "+Prefix+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/decisions", http.StatusSeeOther)
	})
	c.mux.HandleFunc("GET "+Prefix+"/decisions", c.signedIn(c.handleDecisions))
	c.mux.HandleFunc("GET "+Prefix+"/decisions/{id}", c.signedIn(c.handleDecision))
	c.mux.HandleFunc("GET "+Prefix+"/export/{format}", c.signedIn(c.handleExport))
	c.mux.HandleFunc("GET "+Prefix+"/sessions", c.signedIn(c.handleSessions))
	c.mux.HandleFunc("GET "+Prefix+"/sessions/rows", c.signedIn(c.handleSessionRows))
	c.mux.HandleFunc("GET "+Prefix+"/sessions/{id}", c.signedIn(c.handleSession))
	c.mux.HandleFunc("POST "+Prefix+"/locks", c.signedIn(c.handleLock))
	c.mux.HandleFunc("GET "+Prefix+"/hosts", c.signedIn(c.handleHosts))
	c.mux.HandleFunc("GET "+Prefix+"/policy", c.signedIn(c.handlePolicy))
	c.mux.HandleFunc("POST "+Prefix+"/policy/impact", c.signedIn(c.handleImpact))
}

// ServeHTTP serves the console with its security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now())))
}

// startKey is the context key of the time the console began to serve a request: a page's
// Server-Timing header says how long the server took to make it.
type startKey struct{}

// contentSecurityPolicy admits only the console's own script, styles and images, and no
// framing, inline code, plugins or foreign form targets.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
