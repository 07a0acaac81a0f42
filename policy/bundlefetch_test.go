package policy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// bundleService serves one bundle as OPA's bundle protocol does: with an ETag, answering 304 to
// an If-None-Match that names it.
type bundleService struct {
	mu             sync.Mutex
	body           []byte
	full, notModif atomic.Int64
}

func (s *bundleService) set(t *testing.T, revision string, sign BundleSigning) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBundle(&buf, defaultpolicy.Files(), revision, sign); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = buf.Bytes()
}

func (s *bundleService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body := s.body
	s.mu.Unlock()
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
	if r.Header.Get("If-None-Match") == etag {
		s.notModif.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.full.Add(1)
	w.Header().Set("ETag", etag)
	_, _ = w.Write(body)
}

func TestABundleServiceIsPolledWithItsETag(t *testing.T) {
	priv, pub := testKeys(t)
	sign := BundleSigning{KeyID: "policy-2026", Key: priv}
	svc := &bundleService{}
	svc.set(t, "release-1", sign)
	srv := httptest.NewTLSServer(svc)
	defer srv.Close()
	m, err := NewManager(t.Context(), ManagerConfig{Bundle: srv.URL + "/bundles/portcullis.tar.gz", BundleClient: srv.Client(),
		Verify: BundleVerification{KeyID: "policy-2026", Key: pub}, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if st := m.Status(); st.Revision != "release-1" || st.Origin != OriginBundle || !strings.HasPrefix(st.Location, "https://") {
		t.Fatalf("status %+v, want release-1 from the bundle service", st)
	}
	runManager(t, m)
	// Unchanged, the bundle is not downloaded again: the service answers 304.
	waitFor(t, func() bool { return svc.notModif.Load() >= 3 })
	if n := svc.full.Load(); n != 1 {
		t.Errorf("the bundle was downloaded %d times while unchanged, want once", n)
	}
	// A badly signed bundle is refused and the last good one keeps serving (fail closed).
	other, _ := testKeys(t)
	svc.set(t, "release-evil", BundleSigning{KeyID: "policy-2026", Key: other})
	waitFor(t, func() bool { return m.Status().Failures == 1 })
	if st := m.Status(); st.Revision != "release-1" || !strings.Contains(st.LastError, "signature") {
		t.Fatalf("status %+v, want release-1 serving and the signature failure shown", st)
	}
	changed := m.Changed()
	svc.set(t, "release-2", sign)
	waitClosed(t, changed, "a new bundle on the service")
	if st := m.Status(); st.Revision != "release-2" || st.LastError != "" {
		t.Fatalf("status %+v, want release-2", st)
	}
}

func TestABundleServiceThatFailsKeepsTheLastGoodPolicy(t *testing.T) {
	priv, pub := testKeys(t)
	svc := &bundleService{}
	svc.set(t, "release-1", BundleSigning{KeyID: "policy-2026", Key: priv})
	var down atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		svc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	m, err := NewManager(t.Context(), ManagerConfig{Bundle: srv.URL, BundleClient: srv.Client(), Verify: BundleVerification{KeyID: "policy-2026", Key: pub}})
	if err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	if changed, err := m.Reload(t.Context()); changed || err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Reload with the service down = %v, %v; want the 503 reported", changed, err)
	}
	if st := m.Status(); st.Revision != "release-1" || st.Failures != 1 {
		t.Fatalf("status %+v, want release-1 still serving", st)
	}
	// At start, a service that cannot serve fails the Manager: there is no last good policy.
	if _, err := NewManager(t.Context(), ManagerConfig{Bundle: srv.URL, BundleClient: srv.Client(), Verify: BundleVerification{KeyID: "policy-2026", Key: pub}}); err == nil {
		t.Error("NewManager with the bundle service down succeeded")
	}
}

func TestABundleURLMustBeHTTPS(t *testing.T) {
	for _, u := range []string{"http://bundles.example.com/b.tar.gz", "https:///b.tar.gz"} {
		cfg := ManagerConfig{Bundle: u, Verify: BundleVerification{KeyID: "k", Key: "key"}}
		if err := cfg.Validate(); err == nil {
			t.Errorf("bundle %q accepted", u)
		}
	}
	cfg := ManagerConfig{Bundle: "https://user:secret@bundles.example.com/b.tar.gz", Verify: BundleVerification{KeyID: "k", Key: "key"}}
	if err := cfg.Validate(); err != nil {
		t.Errorf("an https bundle URL refused: %v", err)
	}
	if loc := cfg.location(); strings.Contains(loc, "secret") {
		t.Errorf("location %q shows the URL's password", loc)
	}
	if _, err := NewManager(t.Context(), ManagerConfig{Bundle: "http://127.0.0.1:1/b.tar.gz", Verify: BundleVerification{KeyID: "k", Key: "key"}}); err == nil || errors.Is(err, ErrBundleSignature) {
		t.Errorf("NewManager with an http bundle URL = %v, want a configuration error", err)
	}
}
