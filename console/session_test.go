package console

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/store"
)

// TestSessionsLiveInTheStore: two consoles on one store (two replicas) share a session; the
// store keeps no token; sign-out and expiry end it for both; a forged token is refused.
func TestSessionsLiveInTheStore(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cm.db")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	replicas := make([]*Console, 2)
	for i := range replicas {
		st, err := store.Open(ctx, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		replicas[i] = &Console{cfg: Config{Sessions: st, Now: func() time.Time { return now }}}
	}
	a, b := replicas[0], replicas[1]
	claims := identity.Claims{Subject: "carol@example.com", Groups: []string{"auditors"}, Expiry: now.Add(time.Hour)}
	token, err := a.startSession(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.lookup(ctx, token)
	if err != nil || u.claims.Subject != claims.Subject || strings.Join(u.claims.Groups, ",") != "auditors" || u.sess.csrf != csrfToken(token) {
		t.Fatalf("the other replica: %+v, %v", u, err)
	}
	stored, err := a.cfg.Sessions.GetConsoleSession(ctx, tokenHash(token), now)
	if err != nil || strings.Contains(string(stored.Claims), token) || string(stored.TokenHash) == token {
		t.Fatalf("the store keeps the token: %+v, %v", stored, err)
	}
	for _, forged := range []string{"", "forged", token + "x", string(tokenHash(token)), csrfToken(token)} {
		if _, err := b.lookup(ctx, forged); !errors.Is(err, errNoSession) {
			t.Errorf("a forged token %q: %v, want errNoSession", forged, err)
		}
	}
	if err := a.cfg.Sessions.DeleteConsoleSession(ctx, u.sess.hash); err != nil {
		t.Fatal(err)
	}
	if _, err := b.lookup(ctx, token); !errors.Is(err, errNoSession) {
		t.Errorf("a signed-out session at the other replica: %v", err)
	}
	token, err = a.startSession(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	now = claims.Expiry
	if _, err := b.lookup(ctx, token); !errors.Is(err, errNoSession) {
		t.Errorf("an expired session: %v", err)
	}
}

func TestCSRFTokensDiffer(t *testing.T) {
	a, b := randomToken(), randomToken()
	if a == b || csrfToken(a) == csrfToken(b) || csrfToken(a) != csrfToken(a) || csrfToken(a) == a {
		t.Fatal("CSRF tokens are not distinct per session or not stable")
	}
}

func TestLoginCookie(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := pendingLogin{state: "s", nonce: "n", verifier: "v", started: now}
	for _, tc := range []struct {
		name  string
		value string
		at    time.Time
		ok    bool
	}{
		{"fresh", p.cookie(), now.Add(time.Minute), true},
		{"expired", p.cookie(), now.Add(loginTTL + time.Second), false},
		{"a replica's clock a little ahead", p.cookie(), now.Add(-loginSkew), true},
		{"from the future", p.cookie(), now.Add(-loginSkew - time.Second), false},
		{"missing part", "s.n." + "1", now, false},
		{"empty state", ".n.v.1", now, false},
		{"bad time", "s.n.v.x", now, false},
		{"empty", "", now, false},
	} {
		got, ok := parseLogin(tc.value, tc.at)
		if ok != tc.ok || ok && (got.state != "s" || got.nonce != "n" || got.verifier != "v") {
			t.Errorf("%s: parseLogin(%q) = %+v, %v; want ok %v", tc.name, tc.value, got, ok, tc.ok)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	s := &session{csrf: "right"}
	for _, tc := range []struct {
		body string
		ok   bool
	}{{"csrf=right", true}, {"csrf=wrong", false}, {"", false}, {"csrf=", false}, {"other=right", false}} {
		r := httptest.NewRequest("POST", "/ui/locks", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if got := s.checkCSRF(r); got != tc.ok {
			t.Errorf("checkCSRF(%q) = %v, want %v", tc.body, got, tc.ok)
		}
	}
}

// FuzzParseLogin feeds untrusted login cookies to parseLogin: it never panics, and what it
// accepts has a state, a nonce, a verifier and a start within loginTTL.
func FuzzParseLogin(f *testing.F) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.Add(pendingLogin{state: "s", nonce: "n", verifier: "v", started: now}.cookie())
	f.Add("a.b.c.-1")
	f.Add("...")
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := parseLogin(v, now)
		if ok && (p.state == "" || p.nonce == "" || p.verifier == "" || p.started.After(now.Add(loginSkew)) || now.Sub(p.started) > loginTTL) {
			t.Fatalf("accepted %q as %+v", v, p)
		}
	})
}

// BenchmarkLookup measures a page's session check: one store read by the token's hash.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "cm.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := &Console{cfg: Config{Sessions: st, Now: time.Now}}
	token, err := c.startSession(ctx, identity.Claims{Subject: "carol@example.com", Groups: []string{"auditors"}, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.lookup(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
