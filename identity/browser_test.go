package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/identity/devidp"
)

// browserSignIn runs BrowserLogin.Run as the CLI does while drive plays the browser on the
// authorization URL it is shown.
func (d *devIdP) browserSignIn(t *testing.T, drive func(ctx context.Context, authURL string) error) (*Token, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	urls := make(chan string, 1)
	type result struct {
		tok *Token
		err error
	}
	done := make(chan result, 1)
	login := BrowserLogin{Config: d.config(), Open: func(u string) error { urls <- u; return nil }, Timeout: 20 * time.Second}
	go func() {
		tok, err := login.Run(ctx)
		done <- result{tok, err}
	}()
	var authURL string
	select {
	case authURL = <-urls:
	case r := <-done:
		return nil, r.err, nil
	}
	driveErr := drive(ctx, authURL)
	if driveErr != nil {
		cancel()
	}
	r := <-done
	return r.tok, r.err, driveErr
}

func TestBrowserLoginWithPKCEAndLoopbackRedirect(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	var seen *url.URL
	tok, err, driveErr := idp.browserSignIn(t, func(ctx context.Context, authURL string) error {
		seen, _ = url.Parse(authURL)
		return devidp.SubmitBrowserLogin(ctx, idp.client, authURL, "alice@example.com", "password", "123456")
	})
	if err != nil || driveErr != nil {
		t.Fatalf("browser login: %v / browser: %v", err, driveErr)
	}
	q := seen.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		t.Errorf("authorization request without PKCE S256: %v", q)
	case len(q.Get("state")) < 40 || len(q.Get("nonce")) < 40 || q.Get("state") == q.Get("nonce"):
		t.Errorf("state %q / nonce %q are not fresh random values", q.Get("state"), q.Get("nonce"))
	case redirect.Hostname() != "127.0.0.1" || redirect.Port() == "" || redirect.Scheme != "http" || redirect.Path != "/callback":
		t.Errorf("redirect_uri = %s, want http://127.0.0.1:PORT/callback", redirect)
	}
	c, err := idp.verifier(t).Verify(t.Context(), tok.IDToken)
	if err != nil || c.Subject != "alice@example.com" || !c.HasAMR("mfa") || tok.RefreshToken == "" {
		t.Fatalf("token: %+v, %v, refresh %t", c, err, tok.RefreshToken != "")
	}
}

func TestBrowserLoginRefusals(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	t.Run("wrong password: the provider keeps the person on its form; cancelling ends the sign-in", func(t *testing.T) {
		t.Parallel()
		_, err, driveErr := idp.browserSignIn(t, func(ctx context.Context, authURL string) error {
			return devidp.SubmitBrowserLogin(ctx, idp.client, authURL, "alice@example.com", "wrong", "")
		})
		if !errors.Is(driveErr, devidp.ErrLoginRefused) {
			t.Errorf("browser: %v, want ErrLoginRefused", driveErr)
		}
		if !errors.Is(err, ErrLoginCanceled) {
			t.Errorf("Run: %v, want ErrLoginCanceled", err)
		}
	})
	t.Run("the provider denies: access_denied on the redirect", func(t *testing.T) {
		t.Parallel()
		_, err, _ := idp.browserSignIn(t, func(ctx context.Context, authURL string) error {
			return redirectBack(ctx, authURL, url.Values{"error": {"access_denied"}, "error_description": {"the user said no"}})
		})
		if !errors.Is(err, ErrLoginDenied) || !strings.Contains(err.Error(), "the user said no") {
			t.Errorf("Run: %v, want ErrLoginDenied with the provider's description", err)
		}
	})
	t.Run("a forged redirect with another state is ignored", func(t *testing.T) {
		t.Parallel()
		_, err, driveErr := idp.browserSignIn(t, func(ctx context.Context, authURL string) error {
			if err := redirectBack(ctx, authURL, url.Values{"code": {"forged"}, "state": {"not-the-state"}}); err == nil {
				return errors.New("the forged redirect was accepted")
			}
			// The real sign-in still completes afterwards.
			return devidp.SubmitBrowserLogin(ctx, idp.client, authURL, "bob@example.com", "password", "")
		})
		if err != nil || driveErr != nil {
			t.Errorf("Run: %v, browser: %v", err, driveErr)
		}
	})
	t.Run("nobody signs in: the sign-in expires", func(t *testing.T) {
		t.Parallel()
		login := BrowserLogin{Config: idp.config(), Open: func(string) error { return nil }, Timeout: 200 * time.Millisecond}
		if _, err := login.Run(t.Context()); !errors.Is(err, ErrLoginExpired) {
			t.Errorf("Run: %v, want ErrLoginExpired", err)
		}
	})
}

// redirectBack plays a provider that sends the browser back to the loopback redirect URI of
// authURL with the given query (the authorization request's state unless the query has one).
func redirectBack(ctx context.Context, authURL string, q url.Values) error {
	u, err := url.Parse(authURL)
	if err != nil {
		return err
	}
	if !q.Has("state") {
		q.Set("state", u.Query().Get("state"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Query().Get("redirect_uri")+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func TestLogoutRevokesTheRefreshToken(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	tok, err := idp.signIn(t, "alice@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := Revoke(t.Context(), idp.config(), tok); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := Refresh(t.Context(), idp.config(), tok); err == nil {
		t.Fatal("a revoked refresh token still renews the sign-in")
	}
	ki := newKeyIssuer(t)
	if err := Revoke(t.Context(), ki.config(), tok); !errors.Is(err, ErrRevocationUnsupported) {
		t.Errorf("Revoke at a provider without revocation: %v, want ErrRevocationUnsupported", err)
	}
}

func TestDeviceLoginDeniedAndExpiredAreNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code string
		want error
	}{{"access_denied", ErrLoginDenied}, {"expired_token", ErrLoginExpired}} {
		err := loginEnded(&oauth2.RetrieveError{ErrorCode: tc.code})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.code, err, tc.want)
		}
	}
	if err := loginEnded(context.Canceled); !errors.Is(err, ErrLoginCanceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestCallbackTakesOneRedirectOnly(t *testing.T) {
	t.Parallel()
	results := make(chan callbackResult, 1)
	h := callbackHandler("s1", results)
	statuses := make(chan int, 8)
	for range 8 {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?state=s1&code=c1", nil))
			statuses <- rec.Code
		}()
	}
	counts := map[int]int{}
	for range 8 {
		counts[<-statuses]++
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusGone] != 7 {
		t.Fatalf("statuses = %v, want one 200 and seven 410", counts)
	}
	if r := <-results; r.code != "c1" || r.err != nil {
		t.Fatalf("result = %+v", r)
	}
}
