package console

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionStore(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := newSessionStore(2)
	a := st.create("tok-a", now.Add(time.Hour), now)
	b := st.create("tok-b", now.Add(2*time.Hour), now)
	if a.id == b.id || a.csrf == b.csrf || a.csrf == "" {
		t.Fatal("sessions share an id or a CSRF token")
	}
	if _, ok := st.get(a.id, now.Add(61*time.Minute)); ok {
		t.Fatal("a session outlived its ID token")
	}
	c := st.create("tok-c", now.Add(3*time.Hour), now)
	if _, ok := st.get(c.id, now); !ok {
		t.Fatal("a new session is missing")
	}
	st.end(c.id)
	if _, ok := st.get(c.id, now); ok {
		t.Fatal("an ended session is still there")
	}
	if _, ok := st.get("forged", now); ok {
		t.Fatal("an unknown session id was accepted")
	}
}

func TestSessionStoreIsBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := newSessionStore(3)
	for i := range 10 {
		st.create("tok", now.Add(time.Duration(i+1)*time.Minute), now)
	}
	if n := len(st.sessions); n > 3 {
		t.Fatalf("%d sessions kept, the bound is 3", n)
	}
}

func TestLoginsAreOneUseAndExpire(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := newSessionStore(10)
	st.startLogin("s1", pendingLogin{verifier: "v", nonce: "n", expires: now.Add(loginTTL)}, now)
	if _, ok := st.takeLogin("s1", now); !ok {
		t.Fatal("a fresh sign-in was not found")
	}
	if _, ok := st.takeLogin("s1", now); ok {
		t.Fatal("a sign-in was used twice")
	}
	st.startLogin("s2", pendingLogin{expires: now.Add(loginTTL)}, now)
	if _, ok := st.takeLogin("s2", now.Add(loginTTL+time.Second)); ok {
		t.Fatal("an expired sign-in was accepted")
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
