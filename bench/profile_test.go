package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMakeProfileDirCreatesItOrSaysWhyNot(t *testing.T) {
	if err := makeProfileDir(""); err != nil {
		t.Fatalf("no -profile: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := makeProfileDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("%s after makeProfileDir: %v", dir, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := makeProfileDir(file); err == nil || !strings.Contains(err.Error(), "profile directory") {
		t.Fatalf("a file as the profile directory: %v, want an error naming it", err)
	}
}

func TestFetchTraceSavesARuntimeTrace(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "cm.trace")
	if err := fetchTrace(strings.TrimPrefix(srv.URL, "http://"), path, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:16], []byte(" trace")) {
		t.Fatalf("saved %d bytes starting %q, want a Go runtime trace", len(b), b[:min(len(b), 16)])
	}
}
