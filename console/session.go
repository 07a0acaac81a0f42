package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// Cookies. The __Host- prefix makes the browser refuse them unless Secure, host-only and for
// path /.
const (
	// sessionCookie carries the session's random token: HttpOnly, Secure, SameSite=Strict.
	sessionCookie = "__Host-portcullis-console"
	// loginCookie carries a sign-in in progress (its state, nonce and PKCE verifier) and binds
	// it to the browser that started it: SameSite=Lax, since the provider's redirect back is a
	// cross-site navigation.
	loginCookie = "__Host-portcullis-login"
	// loginTTL bounds a sign-in from its start to the provider's redirect back.
	loginTTL = 10 * time.Minute
	// loginSkew is how far ahead of a replica's clock another replica's may have started a
	// sign-in.
	loginSkew = time.Minute
	// csrfField is the form field of the CSRF token.
	csrfField = "csrf"
)

// Sessions is where the console keeps its signed-in sessions: the CM's store, shared by every
// replica (*store.DB). Only the hash of a session's token is stored.
type Sessions interface {
	// CreateConsoleSession stores a new session.
	CreateConsoleSession(ctx context.Context, s store.ConsoleSession) error
	// GetConsoleSession returns the session of a token hash live at now; store.ErrNotFound
	// when there is none.
	GetConsoleSession(ctx context.Context, hash []byte, now time.Time) (store.ConsoleSession, error)
	// DeleteConsoleSession ends a session.
	DeleteConsoleSession(ctx context.Context, hash []byte) error
}

// session is one signed-in browser, as a request presents it.
type session struct {
	// hash is the SHA-256 of the cookie's token: the session's key in the store.
	hash []byte
	// csrf is the token the session's forms carry, derived from the cookie's token.
	csrf    string
	expires time.Time
}

// randomToken returns 32 bytes of crypto/rand entropy, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is the store's key of a session token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// csrfToken is the CSRF token of a session token: an HMAC keyed by the token, so that every
// replica derives it and neither it nor the stored hash gives the token away.
func csrfToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("portcullis console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// startSession stores a session for verified claims and returns its cookie's token.
func (c *Console) startSession(ctx context.Context, claims identity.Claims) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("console: session claims: %w", err)
	}
	token := randomToken()
	err = c.cfg.Sessions.CreateConsoleSession(ctx, store.ConsoleSession{
		TokenHash: tokenHash(token), Subject: claims.Subject, Claims: b, CreatedAt: c.cfg.Now(), ExpiresAt: claims.Expiry,
	})
	return token, err
}

// errNoSession is a request without a live session.
var errNoSession = errors.New("no live console session")

// lookup returns the live session of a cookie's token and the claims it acts for;
// errNoSession when there is none, another error when the store cannot tell (fail closed).
func (c *Console) lookup(ctx context.Context, token string) (user, error) {
	if token == "" {
		return user{}, errNoSession
	}
	hash := tokenHash(token)
	s, err := c.cfg.Sessions.GetConsoleSession(ctx, hash, c.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return user{}, errNoSession
	}
	if err != nil {
		return user{}, err
	}
	var claims identity.Claims
	if err := json.Unmarshal(s.Claims, &claims); err != nil || claims.Subject != s.Subject {
		return user{}, fmt.Errorf("console: the stored session of %s cannot be read: %w", s.Subject, err)
	}
	return user{sess: &session{hash: hash, csrf: csrfToken(token), expires: s.ExpiresAt}, claims: claims}, nil
}

// checkCSRF compares a form's CSRF token with the session's in constant time.
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// pendingLogin is a sign-in waiting for the provider's redirect. It lives in the browser's
// loginCookie, not in a replica's memory, so that the redirect may reach any replica.
type pendingLogin struct {
	state, nonce, verifier string
	started                time.Time
}

// cookie encodes p as loginCookie's value.
func (p pendingLogin) cookie() string {
	return strings.Join([]string{p.state, p.nonce, p.verifier, strconv.FormatInt(p.started.Unix(), 10)}, ".")
}

// parseLogin reads loginCookie's value; false when it is malformed, older than loginTTL or
// started more than loginSkew ahead of now.
func parseLogin(v string, now time.Time) (pendingLogin, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return pendingLogin{}, false
	}
	sec, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return pendingLogin{}, false
	}
	p := pendingLogin{state: parts[0], nonce: parts[1], verifier: parts[2], started: time.Unix(sec, 0)}
	return p, !p.started.After(now.Add(loginSkew)) && now.Sub(p.started) <= loginTTL
}

// setCookie sets a __Host- cookie: Secure, HttpOnly, path /.
func setCookie(w http.ResponseWriter, name, value string, maxAge int, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: site})
}

// user is a signed-in request: its session and the claims it acts for.
type user struct {
	sess   *session
	claims identity.Claims
}
