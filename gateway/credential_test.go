package gateway_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
)

func TestCredentialIsBoundToTheUsersKeyAndIssuedOncePerToken(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	alice := c.login(t, "alice@example.com", "123456")
	der, err := pemCert(alice.cert.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := identity.UnverifiedExpiry(alice.token)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "user:alice@example.com" || alice.cert.Subject != "alice@example.com" {
		t.Errorf("certificate names %q / %q", cert.Subject.CommonName, alice.cert.Subject)
	}
	if cert.NotAfter.After(exp) || !cert.NotAfter.Equal(alice.cert.ExpiresAt) {
		t.Errorf("certificate valid until %s, ID token expires %s: it must not outlive the token", cert.NotAfter, exp)
	}
	if pub, ok := cert.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(alice.key.Public()) {
		t.Error("certificate is not for the key the Guest generated")
	}

	var me api.WhoAmI
	if err := c.call(alice, http.MethodGet, api.PathWhoAmI, nil, &me); err != nil {
		t.Fatal(err)
	}
	if me.Subject != "alice@example.com" || len(me.Groups) != 1 || me.Groups[0] != "ops" || !me.CredentialExpiresAt.Equal(cert.NotAfter) || !me.TokenExpiresAt.Equal(exp) {
		t.Errorf("whoami = %+v", me)
	}

	// The same ID token cannot be exchanged again, e.g. by someone who saw it in transit.
	_, _, err = c.exchange(alice.token)
	if status, body := statusOf(err); status != http.StatusUnauthorized || body.Reason != access.ErrTokenExchanged {
		t.Fatalf("second exchange: %d %+v, want 401 %s", status, body, access.ErrTokenExchanged)
	}
	// An RSA or malformed key is refused.
	err = c.call(user{token: c.idToken(t, "alice@example.com", "")}, http.MethodPost, api.PathCredential, api.CredentialRequest{PublicKey: "ssh-rsa AAAA"}, nil)
	if status, _ := statusOf(err); status != http.StatusBadRequest {
		t.Fatalf("bad key: %v, want 400", err)
	}
}

func TestCredentialLifetimeIsCappedByTheCM(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	// A 1 h ID token on a CM whose cap is 12 h gives at most 1 h; the cap itself is tested by
	// the gateway's default (DefaultMaxCredentialTTL) being larger than the dev IdP's tokens.
	alice := c.login(t, "bob@example.com", "")
	if d := time.Until(alice.cert.ExpiresAt); d > time.Hour+time.Minute || d < 30*time.Minute {
		t.Errorf("credential lives %s, want about the ID token's hour", d)
	}
}

func TestEveryRefusedTokenIsA401WithItsReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(*identity.Config)
		reason string
	}{
		{"another audience", func(c *identity.Config) { c.ClientID = "someone-else" }, "wrong_audience"},
		{"expired (the CM's clock is two hours ahead)", func(c *identity.Config) {
			c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}, "expired"},
		{"not yet valid (the CM's clock is an hour behind)", func(c *identity.Config) {
			c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		}, "not_yet_valid"},
		{"MFA required, password only", func(c *identity.Config) { c.Mapping.RequireAMR = []string{"mfa"} }, "insufficient_authentication"},
		{"acr required, none given", func(c *identity.Config) { c.Mapping.RequireACR = []string{"phr"} }, "insufficient_authentication"},
		{"user claim absent", func(c *identity.Config) { c.Mapping.UserClaim = "upn" }, "missing_claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCM(t, withVerifier(tt.edit))
			_, _, err := c.exchange(c.idToken(t, "alice@example.com", ""))
			if status, body := statusOf(err); status != http.StatusUnauthorized || string(body.Reason) != tt.reason || body.Message == "" {
				t.Fatalf("got %d %+v, want 401 with reason %s", status, body, tt.reason)
			}
		})
	}
	t.Run("signed by another provider", func(t *testing.T) {
		c, other := startCM(t), startCM(t)
		_, _, err := c.exchange(other.idToken(t, "alice@example.com", ""))
		if status, body := statusOf(err); status != http.StatusUnauthorized || body.Reason != "bad_signature" {
			t.Fatalf("got %d %+v, want 401 bad_signature", status, body)
		}
	})
}

func TestRotatedSigningKeyVerifiesWithoutRestart(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	before := c.login(t, "alice@example.com", "123456")
	if err := c.idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	after := c.login(t, "bob@example.com", "")
	for _, u := range []user{before, after} {
		var hosts []api.HostInfo
		err := c.call(u, http.MethodGet, api.PathHosts, nil, &hosts)
		if status, body := statusOf(err); status != http.StatusForbidden || body.Code != access.ErrForbidden {
			t.Errorf("%s after rotation: %v; want authenticated (then refused by the API policy)", u.email, err)
		}
	}
}

// respell returns spellings of the compact ID token tok that go-jose alone takes for the same
// signed token: whitespace, the JSON serialization, spare bits in the last base64url character.
func respell(t *testing.T, tok string) map[string]string {
	t.Helper()
	const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	p := strings.Split(tok, ".")
	if len(p) != 3 || len(p[2])%4 == 0 {
		t.Fatalf("token %q: want a compact JWS whose signature has spare bits", tok)
	}
	js, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
	last := strings.IndexByte(b64url, p[2][len(p[2])-1])
	return map[string]string{
		"a space after a dot":         p[0] + ". " + p[1] + "." + p[2],
		"a tab inside the payload":    p[0] + "." + p[1][:9] + "\t" + p[1][9:] + "." + p[2],
		"JSON serialization":          string(js),
		"spare bits in the signature": p[0] + "." + p[1] + "." + p[2][:len(p[2])-1] + string(b64url[last|1]),
	}
}

// Someone who saw alice's ID token (in a log, in transit) respells it to exchange it once more
// for a certificate for their own key: every spelling is refused, before and after alice's
// exchange, and only the canonical one is ever exchanged.
func TestAnExchangedTokenRespelledMintsNoSecondCertificate(t *testing.T) {
	t.Parallel()
	c := startCM(t)
	tok := c.idToken(t, "alice@example.com", "123456")
	tryAll := func(when string) {
		for name, variant := range respell(t, tok) {
			key, cred, err := c.exchange(variant)
			if err == nil {
				thief := user{email: "alice@example.com", token: tok, key: key, cert: cred, client: c.clientWithPEM(t, key, cred.Certificate)}
				var me api.WhoAmI
				callErr := c.call(thief, http.MethodGet, api.PathWhoAmI, nil, &me)
				t.Errorf("%s, %s: minted another certificate for %s; whoami as the thief: %q, %v", when, name, cred.Subject, me.Subject, callErr)
				continue
			}
			if status, body := statusOf(err); status != http.StatusUnauthorized || body.Reason != access.ErrMalformed {
				t.Errorf("%s, %s: %d %+v, want 401 %s", when, name, status, body, access.ErrMalformed)
			}
		}
	}
	tryAll("before alice's exchange")
	if _, _, err := c.exchange(tok); err != nil {
		t.Fatalf("alice's own exchange: %v", err)
	}
	tryAll("after alice's exchange")
	_, _, err := c.exchange(tok)
	if status, body := statusOf(err); status != http.StatusUnauthorized || body.Reason != access.ErrTokenExchanged {
		t.Fatalf("the canonical token again: %d %+v, want 401 %s", status, body, access.ErrTokenExchanged)
	}
}
