package main

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// refuseAll is a transport that fails every request, as the network would for a CM that does
// not serve yet.
type refuseAll struct{ seen []string }

func (r *refuseAll) RoundTrip(req *http.Request) (*http.Response, error) {
	r.seen = append(r.seen, req.URL.String())
	return nil, errors.New("refused")
}

func TestTheCMAnswersItsOwnDevelopmentIdPInProcessAndPassesOtherRequestsOn(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /idp/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, `{"issuer":"`+r.Host+`"}`)
	})
	next := &refuseAll{}
	c := withLocalIssuer(&http.Client{Transport: next}, "https://127.0.0.1:8443/idp", mux)

	resp, err := c.Get("https://127.0.0.1:8443/idp/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("Content-Type") != "application/json" || string(body) != `{"issuer":"127.0.0.1:8443"}` {
		t.Fatalf("in-process answer: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	for _, u := range []string{"https://127.0.0.1:8443/idpx/keys", "https://sso.example.com/idp/keys", "https://127.0.0.1:8443/v1/auth/config"} {
		if _, err := c.Get(u); err == nil {
			t.Errorf("GET %s was answered in process", u)
		}
	}
	if len(next.seen) != 3 || len(next.seen) > 0 && next.seen[0] != "https://127.0.0.1:8443/idpx/keys" {
		t.Errorf("passed on: %v, want the three other requests", next.seen)
	}
}

func TestTheDevIdPKeyIsKeptAcrossStarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), devIdPKeyFile)
	first, err := loadDevIdPKey(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("key file: %v, %v; want it owner-only", fi, err)
	}
	again, err := loadDevIdPKey(path, slog.New(slog.DiscardHandler))
	if err != nil || !again.Equal(first) {
		t.Fatalf("second start: %v; want the same key", err)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDevIdPKey(path, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("a damaged key file: %v; want an error saying what to do", err)
	}
	var warned strings.Builder
	unwritable := filepath.Join(t.TempDir(), "no-such-dir", devIdPKeyFile)
	if key, err := loadDevIdPKey(unwritable, slog.New(slog.NewTextHandler(&warned, nil))); err != nil || key == nil || !strings.Contains(warned.String(), "not kept") {
		t.Errorf("a directory the CM may not write: %v, %q; want a fresh key and a warning", err, warned.String())
	}
}
