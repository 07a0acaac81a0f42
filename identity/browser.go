package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Browser sign-in limits.
const (
	// DefaultBrowserTimeout bounds a browser sign-in when BrowserLogin.Timeout is zero.
	DefaultBrowserTimeout = 5 * time.Minute
	// loopbackHost is where the redirect listener binds (RFC 8252 section 7.3: an IP literal,
	// not "localhost", so that no resolver or firewall rule can redirect it).
	loopbackHost = "127.0.0.1"
	// callbackPath is the redirect URI's path on the loopback listener.
	callbackPath = "/callback"
	// randomBytes is the entropy of state and nonce.
	randomBytes = 32
)

// Reasons a sign-in ends without tokens; each is wrapped with the provider's detail.
var (
	// ErrLoginDenied: the person or the provider refused the sign-in (access_denied).
	ErrLoginDenied = errors.New("identity: sign-in was denied")
	// ErrLoginExpired: the sign-in was not completed in time (expired device code, timeout).
	ErrLoginExpired = errors.New("identity: sign-in expired before it was completed")
	// ErrLoginCanceled: the sign-in was cancelled (interrupt, closed context).
	ErrLoginCanceled = errors.New("identity: sign-in was cancelled")
	// ErrStateMismatch: the redirect carried another state than the one sent (a forged or
	// stale redirect); the sign-in is abandoned.
	ErrStateMismatch = errors.New("identity: the redirect's state does not match the request")
)

// BrowserLogin signs a person in with the authorization code flow, PKCE (S256) and a
// loopback redirect on 127.0.0.1 with a random port (RFC 8252). It checks state on the
// redirect and the nonce in the ID token, whose signature it verifies.
type BrowserLogin struct {
	// Config names the provider and client; Config.Scopes are requested.
	Config Config
	// Open shows the authorization URL to the person, e.g. by starting a browser; nil prints
	// it to standard error. An error from Open is not fatal: the URL is printed instead.
	Open func(authURL string) error
	// Timeout bounds the whole sign-in; default DefaultBrowserTimeout.
	Timeout time.Duration
}

// callbackResult is what the loopback listener received.
type callbackResult struct {
	code string
	err  error
}

// Run performs the sign-in and returns the tokens.
func (b BrowserLogin) Run(ctx context.Context) (*Token, error) {
	oc, cfg, err := publicClient(ctx, b.Config, false)
	if err != nil {
		return nil, err
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultBrowserTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ln, err := net.Listen("tcp", net.JoinHostPort(loopbackHost, "0"))
	if err != nil {
		return nil, fmt.Errorf("identity: loopback listener for the redirect: %w", err)
	}
	oc.RedirectURL = "http://" + ln.Addr().String() + callbackPath
	state, nonce := randomString(), randomString()
	verifier := oauth2.GenerateVerifier()
	results := make(chan callbackResult, 1)
	srv := &http.Server{Handler: callbackHandler(state, results), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	authURL := oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	b.show(authURL)
	var res callbackResult
	select {
	case res = <-results:
	case <-ctx.Done():
		return nil, loginEnded(ctx.Err())
	}
	if res.err != nil {
		return nil, res.err
	}
	tok, err := oc.Exchange(oidc.ClientContext(ctx, cfg.HTTPClient), res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("identity: exchange the authorization code: %w", loginEnded(err))
	}
	t, err := newToken(tok, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	return t, checkIDToken(ctx, cfg, t.IDToken, nonce)
}

// checkIDToken verifies the ID token's signature and claims and that it carries nonce.
func checkIDToken(ctx context.Context, cfg Config, raw, nonce string) error {
	v, err := NewVerifier(ctx, cfg)
	if err != nil {
		return err
	}
	claims, err := v.Verify(ctx, raw)
	if err != nil {
		return fmt.Errorf("identity: the provider's ID token: %w", err)
	}
	return claims.CheckNonce(nonce)
}

func (b BrowserLogin) show(authURL string) {
	if b.Open != nil && b.Open(authURL) == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "To sign in, open this address in a browser:\n\n  %s\n\n", authURL)
}

// callbackPage is what the browser shows after the redirect; the ids "signed-in" and "error"
// carry the outcome for people and for test drivers.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portcullis sign-in</title></head>
<body><main>{{if .}}<h1>Sign-in failed</h1><p id="error" role="alert">{{.}}</p>
{{else}}<h1>Signed in</h1><p id="signed-in">You are signed in to Portcullis. You can close this page.</p>{{end}}</main></body></html>
`))

// callbackHandler receives the provider's redirect once: it checks state, then hands the
// code or the provider's error to results. Later requests are told the sign-in is over.
func callbackHandler(state string, results chan<- callbackResult) http.Handler {
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+callbackPath, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			// A forged or stale redirect: ignore it and keep waiting for the real one.
			renderCallback(w, http.StatusBadRequest, ErrStateMismatch.Error())
			return
		}
		res := callbackResult{code: q.Get("code")}
		switch {
		case q.Get("error") == "access_denied":
			res.err = fmt.Errorf("%w by the identity provider: %s", ErrLoginDenied, q.Get("error_description"))
		case q.Get("error") != "":
			res.err = fmt.Errorf("identity: the identity provider answered %s: %s", q.Get("error"), q.Get("error_description"))
		case res.code == "":
			res.err = errors.New("identity: the redirect carries no authorization code")
		}
		first := false
		once.Do(func() { first = true; results <- res })
		switch {
		case !first:
			renderCallback(w, http.StatusGone, "this sign-in is already finished")
		case res.err != nil:
			renderCallback(w, http.StatusForbidden, res.err.Error())
		default:
			renderCallback(w, http.StatusOK, "")
		}
	})
	return mux
}

func renderCallback(w http.ResponseWriter, status int, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = callbackPage.Execute(w, errMsg)
}

// loginEnded maps how a sign-in ended to ErrLoginDenied, ErrLoginExpired or ErrLoginCanceled
// where it can, keeping err's text.
func loginEnded(err error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.ErrorCode == "access_denied":
		return fmt.Errorf("%w: %w", ErrLoginDenied, err)
	case errors.As(err, &re) && re.ErrorCode == "expired_token":
		return fmt.Errorf("%w: %w", ErrLoginExpired, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrLoginExpired, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", ErrLoginCanceled, err)
	}
	return err
}

// randomString returns randomBytes of crypto/rand entropy, base64url without padding.
func randomString() string {
	b := make([]byte, randomBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
