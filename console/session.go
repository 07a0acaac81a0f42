package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/identity"
)

// Cookies. The __Host- prefix makes the browser refuse them unless Secure, host-only and for
// path /.
const (
	// sessionCookie carries the session id: HttpOnly, Secure, SameSite=Strict.
	sessionCookie = "__Host-portcullis-console"
	// loginCookie binds a sign-in to the browser that started it (its state): SameSite=Lax,
	// since the provider's redirect back is a cross-site navigation.
	loginCookie = "__Host-portcullis-login"
	// loginTTL bounds a sign-in from its start to the provider's redirect back.
	loginTTL = 10 * time.Minute
	// maxPendingLogins bounds the sign-ins in progress kept.
	maxPendingLogins = 1000
	// csrfField is the form field of the CSRF token.
	csrfField = "csrf"
)

// session is one signed-in browser.
type session struct {
	id   string
	csrf string
	// idToken is verified again on every request: the session ends with it.
	idToken string
	expires time.Time
}

// pendingLogin is a sign-in waiting for the provider's redirect.
type pendingLogin struct {
	verifier, nonce string
	expires         time.Time
}

// sessionStore keeps the signed-in sessions and the sign-ins in progress in memory: a CM
// replica's sessions are its own (docs/console.md).
type sessionStore struct {
	mu       sync.Mutex
	max      int
	sessions map[string]*session
	pending  map[string]pendingLogin
}

func newSessionStore(max int) *sessionStore {
	return &sessionStore{max: max, sessions: map[string]*session{}, pending: map[string]pendingLogin{}}
}

// randomToken returns 32 bytes of crypto/rand entropy, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startLogin keeps a sign-in under state; false when too many are in progress.
func (st *sessionStore) startLogin(state string, p pendingLogin, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, v := range st.pending {
		if now.After(v.expires) {
			delete(st.pending, k)
		}
	}
	if len(st.pending) >= maxPendingLogins {
		return false
	}
	st.pending[state] = p
	return true
}

// takeLogin removes and returns the sign-in of state, if it is in progress.
func (st *sessionStore) takeLogin(state string, now time.Time) (pendingLogin, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	p, ok := st.pending[state]
	delete(st.pending, state)
	return p, ok && now.Before(p.expires)
}

// create starts a session for a verified ID token that expires at expires.
func (st *sessionStore) create(idToken string, expires, now time.Time) *session {
	s := &session{id: randomToken(), csrf: randomToken(), idToken: idToken, expires: expires}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sessions) >= st.max {
		st.evict(now)
	}
	st.sessions[s.id] = s
	return s
}

// evict drops expired sessions, and the one nearest its end when none has expired.
func (st *sessionStore) evict(now time.Time) {
	var soonest *session
	for id, s := range st.sessions {
		if now.After(s.expires) {
			delete(st.sessions, id)
		} else if soonest == nil || s.expires.Before(soonest.expires) {
			soonest = s
		}
	}
	if len(st.sessions) >= st.max && soonest != nil {
		delete(st.sessions, soonest.id)
	}
}

// get returns the live session of id.
func (st *sessionStore) get(id string, now time.Time) (*session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[id]
	if ok && now.After(s.expires) {
		delete(st.sessions, id)
		return nil, false
	}
	return s, ok
}

// end ends the session of id.
func (st *sessionStore) end(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.sessions, id)
}

// checkCSRF compares a form's CSRF token with the session's in constant time.
func (s *session) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// setCookie sets a __Host- cookie: Secure, HttpOnly, path /.
func setCookie(w http.ResponseWriter, name, value string, maxAge int, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, Secure: true, HttpOnly: true, SameSite: site})
}

// user is a signed-in request: its session and the claims of its freshly verified ID token.
type user struct {
	sess   *session
	claims identity.Claims
}
