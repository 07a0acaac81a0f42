package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/identity"
)

// discoveryTimeout bounds the provider's discovery and the code exchange of one sign-in.
const discoveryTimeout = 15 * time.Second

func (c *Console) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", nil, page{Title: "Sign in", Message: r.URL.Query().Get("msg")})
}

// handleLogin starts a sign-in: state, nonce and a PKCE verifier, kept in this browser's
// loginCookie, then sends the browser to the provider.
func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), discoveryTimeout)
	defer cancel()
	oc, _, err := identity.WebClient(ctx, c.cfg.OIDC, c.redirect)
	if err != nil {
		c.cfg.Logger.Warn("console sign-in: identity provider", "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "The identity provider cannot be reached; try again later.")
		return
	}
	p := pendingLogin{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier(), started: c.cfg.Now()}
	setCookie(w, loginCookie, p.cookie(), int(loginTTL/time.Second), http.SameSiteLaxMode)
	http.Redirect(w, r, oc.AuthCodeURL(p.state, oauth2.S256ChallengeOption(p.verifier), oidc.Nonce(p.nonce)), http.StatusSeeOther)
}

// handleCallback finishes a sign-in: the state must be this browser's, the code is exchanged
// with the PKCE verifier, and the ID token must verify and carry the nonce.
func (c *Console) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	bound, err := r.Cookie(loginCookie)
	setCookie(w, loginCookie, "", -1, http.SameSiteLaxMode)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "This sign-in was not started by this browser, or it is already finished; sign in again.")
		return
	}
	p, ok := parseLogin(bound.Value, c.cfg.Now())
	switch {
	case !ok:
		c.fail(w, r, http.StatusBadRequest, "This sign-in expired; sign in again.")
		return
	case state == "" || subtle.ConstantTimeCompare([]byte(p.state), []byte(state)) != 1:
		c.fail(w, r, http.StatusBadRequest, "This sign-in was not started by this browser; sign in again.")
		return
	case q.Get("error") != "":
		c.fail(w, r, http.StatusForbidden, "The identity provider refused the sign-in: "+q.Get("error")+" "+q.Get("error_description"))
		return
	}
	_, claims, err := c.exchange(r.Context(), q.Get("code"), p)
	if err != nil {
		c.cfg.Logger.Info("console sign-in refused", "err", err, "remote", r.RemoteAddr)
		c.fail(w, r, http.StatusForbidden, "The sign-in could not be completed: "+err.Error())
		return
	}
	token, err := c.startSession(r.Context(), claims)
	if err != nil {
		c.cfg.Logger.Error("console sign-in: store the session", "subject", claims.Subject, "err", err)
		c.fail(w, r, http.StatusServiceUnavailable, "The sign-in could not be kept (the store is unavailable); try again.")
		return
	}
	setCookie(w, sessionCookie, token, int(claims.Expiry.Sub(c.cfg.Now())/time.Second), http.SameSiteStrictMode)
	c.cfg.Logger.Info("console sign-in", "subject", claims.Subject, "remote", r.RemoteAddr)
	// A page, not a redirect: the browser sends the SameSite=Strict cookie only on a
	// navigation this site starts, and the redirect chain began at the provider.
	c.render(w, r, http.StatusOK, "signedin", nil, page{Title: "Signed in"})
}

// exchange redeems the authorization code and verifies the ID token and its nonce.
func (c *Console) exchange(ctx context.Context, code string, p pendingLogin) (string, identity.Claims, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	oc, hc, err := identity.WebClient(ctx, c.cfg.OIDC, c.redirect)
	if err != nil {
		return "", identity.Claims{}, err
	}
	tok, err := oc.Exchange(oidc.ClientContext(ctx, hc), code, oauth2.VerifierOption(p.verifier))
	if err != nil {
		return "", identity.Claims{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", identity.Claims{}, identity.ErrNoIDToken
	}
	claims, err := c.cfg.Verifier.Verify(ctx, raw)
	if err != nil {
		return "", identity.Claims{}, err
	}
	if err := claims.CheckNonce(p.nonce); err != nil {
		return "", identity.Claims{}, err
	}
	return raw, claims, nil
}

// handleLogout ends the session in the store, so that every replica refuses its cookie from
// now on (its CSRF token was checked by signedIn).
func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request, u user) {
	if err := c.cfg.Sessions.DeleteConsoleSession(r.Context(), u.sess.hash); err != nil {
		c.cfg.Logger.Error("console sign-out", "subject", u.claims.Subject, "err", err)
		c.render(w, r, http.StatusServiceUnavailable, "error", &u, page{Title: "Not signed out", Error: &errorView{Status: http.StatusServiceUnavailable,
			Heading: "Not signed out", Message: "The store is unavailable: your session is still open. Try again."}})
		return
	}
	c.cfg.Logger.Info("console sign-out", "subject", u.claims.Subject, "remote", r.RemoteAddr)
	setCookie(w, sessionCookie, "", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, Prefix+"/signin?msg=signed-out", http.StatusSeeOther)
}

// signedIn serves h to a user with a live session in the store; others are sent to sign in,
// and a store that cannot tell refuses the request (503). A POST must come from this site with the session's CSRF token, or it is refused
// (403) and changes nothing.
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, user)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := c.user(r)
		if err != nil && !errors.Is(err, errNoSession) {
			c.cfg.Logger.Error("console: read the session", "err", err)
			c.render(w, r, http.StatusServiceUnavailable, "error", nil, page{Title: "Unavailable", Error: &errorView{Status: http.StatusServiceUnavailable,
				Heading: "Unavailable", Message: "Your session cannot be checked (the store is unavailable); try again."}})
			return
		}
		if err != nil {
			setCookie(w, sessionCookie, "", -1, http.SameSiteStrictMode)
			if r.Method != http.MethodGet {
				c.fail(w, r, http.StatusUnauthorized, "Your session is over; sign in again.")
				return
			}
			http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if r.Header.Get("Sec-Fetch-Site") == "cross-site" || !u.sess.checkCSRF(r) {
				c.cfg.Logger.Warn("console refused a form without this session's CSRF token", "subject", u.claims.Subject, "path", r.URL.Path, "remote", r.RemoteAddr)
				c.fail(w, r, http.StatusForbidden, "This form was not sent from this console (CSRF check failed); nothing was changed.")
				return
			}
		}
		h(w, r, u)
	}
}

// maxFormBytes bounds a form the console reads: a candidate policy's upload and its fields.
const maxFormBytes = maxUpload + 64<<10

// user returns the request's session and the claims it acts for; errNoSession without one.
func (c *Console) user(r *http.Request) (user, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return user{}, errNoSession
	}
	return c.lookup(r.Context(), ck.Value)
}
