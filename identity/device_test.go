package identity

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/identity/devidp"
)

// devIdP is the development provider served over HTTPS under /idp/, mounted
// as the Connection Manager mounts it.
type devIdP struct {
	p      *devidp.Provider
	issuer string
	client *http.Client
}

func startDevIdP(t *testing.T) *devIdP {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	issuer := "https://" + srv.Listener.Addr().String() + "/idp"
	p, err := devidp.New(t.Context(), devidp.Config{Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/idp/", p.Handler())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &devIdP{p: p, issuer: issuer, client: srv.Client()}
}

func (d *devIdP) config() Config {
	return Config{Issuer: d.issuer, ClientID: devidp.DefaultClientID, HTTPClient: d.client}
}

func (d *devIdP) verifier(t *testing.T) *Verifier {
	t.Helper()
	v, err := NewVerifier(t.Context(), d.config())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signIn runs DeviceLogin.Run as the CLI does while a browser approves the
// shown code through the provider's HTML form.
func (d *devIdP) signIn(t *testing.T, email, password, otp string) (*Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	type prompt struct{ uri, code string }
	type result struct {
		tok *Token
		err error
	}
	prompts := make(chan prompt, 1)
	done := make(chan result, 1)
	login := DeviceLogin{Config: d.config(), Prompt: func(uri, code string) { prompts <- prompt{uri, code} }}
	go func() {
		tok, err := login.Run(ctx)
		done <- result{tok, err}
	}()
	var p prompt
	select {
	case p = <-prompts:
	case r := <-done:
		return nil, r.err
	}
	if err := devidp.SubmitDeviceLogin(ctx, d.client, p.uri, p.code, email, password, otp); err != nil {
		cancel()
		if r := <-done; r.err == nil {
			t.Fatal("Run returned a token although the browser sign-in was refused")
		}
		return nil, err
	}
	r := <-done
	return r.tok, r.err
}

func TestDeviceLoginEndToEnd(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	v := idp.verifier(t)
	tests := []struct {
		name, email, otp string
		groups, amr      []string
		mfa              bool
	}{
		{"alice with her one-time code has MFA", "alice@example.com", "123456", []string{"ops"}, []string{"pwd", "otp", "mfa"}, true},
		{"alice without a one-time code has no MFA", "alice@example.com", "", []string{"ops"}, []string{"pwd"}, false},
		{"bob is a contractor", "bob@example.com", "", []string{"contractors"}, []string{"pwd"}, false},
		{"mallory has no group", "mallory@example.com", "", nil, []string{"pwd"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := idp.signIn(t, tt.email, "password", tt.otp)
			if err != nil {
				t.Fatalf("device login: %v", err)
			}
			if tok.Issuer != idp.issuer || tok.RefreshToken == "" || tok.AccessToken == "" {
				t.Errorf("token = issuer %q, refresh %t, access %t", tok.Issuer, tok.RefreshToken != "", tok.AccessToken != "")
			}
			if d := time.Until(tok.Expiry); d < devidp.IDTokenLifetime-time.Minute || d > devidp.IDTokenLifetime {
				t.Errorf("token expires in %s, want about %s", d, devidp.IDTokenLifetime)
			}
			c, err := v.Verify(t.Context(), tok.IDToken)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != tt.email || c.Email != tt.email || !c.EmailVerified || c.Issuer != idp.issuer {
				t.Errorf("subject/email/verified/issuer = %q/%q/%t/%q", c.Subject, c.Email, c.EmailVerified, c.Issuer)
			}
			if !slices.Equal(c.Groups, tt.groups) {
				t.Errorf("groups = %v, want %v", c.Groups, tt.groups)
			}
			if !slices.Equal(c.AMR, tt.amr) || c.HasAMR("mfa") != tt.mfa {
				t.Errorf("amr = %v, want %v", c.AMR, tt.amr)
			}
			if time.Since(c.AuthTime) > time.Minute || c.Sub == "" || c.Name == "" {
				t.Errorf("auth_time %s, sub %q, name %q", c.AuthTime, c.Sub, c.Name)
			}
		})
	}
}

func TestDeviceLoginWrongPasswordIsRefused(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	tok, err := idp.signIn(t, "alice@example.com", "hunter2", "")
	if !errors.Is(err, devidp.ErrLoginRefused) || !strings.Contains(err.Error(), "wrong username or password") || tok != nil {
		t.Fatalf("sign-in = %v, %v; want ErrLoginRefused and no token", tok, err)
	}
}

func TestRealTokensRefusedForTheWrongVerifier(t *testing.T) {
	t.Parallel()
	idp, other := startDevIdP(t), startDevIdP(t)
	tok, err := idp.signIn(t, "alice@example.com", "password", "123456")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    func() Config
		reason error
	}{
		{"another client's verifier", func() Config { c := idp.config(); c.ClientID = "grafana"; return c }, access.ErrWrongAudience},
		{"two hours later", func() Config {
			c := idp.config()
			c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
			return c
		}, access.ErrExpired},
		{"another provider's verifier (its keys never signed this)", other.config, access.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(t.Context(), tt.cfg())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(t.Context(), tok.IDToken); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.reason) {
				t.Fatalf("Verify = %v, want %v", err, tt.reason)
			}
		})
	}
}

func keyID(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func TestKeyRotationVerifiesWithoutRestart(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	// The key rotates right after the first JWKS fetch; a real provider rotates far less often
	// than DefaultJWKSRefetchInterval.
	cfg := idp.config()
	cfg.JWKSRefetchInterval = time.Millisecond
	v, err := NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, err := idp.signIn(t, "bob@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), before.IDToken); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	if err := idp.p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	after, err := idp.signIn(t, "bob@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	if keyID(t, after.IDToken) == keyID(t, before.IDToken) {
		t.Fatal("the token after RotateKey names the old key")
	}
	for name, raw := range map[string]string{"signed after rotation": after.IDToken, "signed before rotation": before.IDToken} {
		c, err := v.Verify(t.Context(), raw)
		if err != nil || !slices.Equal(c.Groups, []string{"contractors"}) {
			t.Fatalf("token %s: %+v, %v", name, c, err)
		}
	}
}

func TestRefreshKeepsTheSignIn(t *testing.T) {
	t.Parallel()
	idp := startDevIdP(t)
	v := idp.verifier(t)
	tok, err := idp.signIn(t, "alice@example.com", "password", "123456")
	if err != nil {
		t.Fatal(err)
	}
	login := DeviceLogin{Config: idp.config()}
	fresh, err := login.Refresh(t.Context(), tok)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || fresh.IDToken == tok.IDToken {
		t.Fatal("Refresh did not renew the tokens")
	}
	c, err := v.Verify(t.Context(), fresh.IDToken)
	if err != nil || c.Subject != "alice@example.com" || !c.HasAMR("mfa") {
		t.Fatalf("refreshed token: %+v, %v", c, err)
	}
	if _, err := login.Refresh(t.Context(), &Token{}); err == nil {
		t.Fatal("Refresh without a refresh token succeeded")
	}
}

func TestDeviceLoginNeedsADeviceEndpoint(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	_, err := DeviceLogin{Config: ki.config(), Prompt: func(string, string) {}}.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "device_authorization_endpoint") {
		t.Fatalf("Run = %v, want a missing device endpoint error", err)
	}
}
