package identity

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestTokenCacheRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "portcullis")
	cache := TokenCache{Dir: dir}
	want := &Token{IDToken: "id.token.sig", AccessToken: "at", RefreshToken: "rt",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Issuer: "https://127.0.0.1:8443/idp"}
	if err := cache.Save("https://cm.example.com", want); err != nil {
		t.Fatal(err)
	}
	got, err := cache.Load("https://cm.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *want {
		t.Fatalf("Load = %+v, want %+v", got, want)
	}
	path, err := cache.Path("https://cm.example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no file modes: there internal/privatedir's test checks the owner-only ACL.
	for p, mode := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if runtime.GOOS == "windows" {
			break
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", p, info.Mode().Perm(), mode)
		}
	}
	if strings.Contains(path, "cm.example.com") {
		t.Errorf("file name %s shows the URL instead of its hash", path)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d files, want 1 (no temporary files left)", len(entries))
	}
}

func TestTokenCacheKeepsOneTokenPerCM(t *testing.T) {
	cache := TokenCache{Dir: t.TempDir()}
	for _, cm := range []string{"https://cm-a.example.com", "https://cm-b.example.com"} {
		if err := cache.Save(cm, &Token{IDToken: "token for " + cm}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cache.Save("https://cm-a.example.com", &Token{IDToken: "newer token for a"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ cm, want string }{
		{"https://cm-a.example.com", "newer token for a"},
		{"https://cm-b.example.com", "token for https://cm-b.example.com"},
	}
	for _, tt := range tests {
		got, err := cache.Load(tt.cm)
		if err != nil || got.IDToken != tt.want {
			t.Errorf("Load(%s) = %v, %v; want %q", tt.cm, got, err, tt.want)
		}
	}
}

func TestTokenCacheMisses(t *testing.T) {
	cache := TokenCache{Dir: t.TempDir()}
	if _, err := cache.Load("https://cm.example.com"); !errors.Is(err, ErrNotCached) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of nothing = %v, want ErrNotCached and fs.ErrNotExist", err)
	}
	path, _ := cache.Path("https://cm.example.com")
	tests := []struct {
		name    string
		content string
		want    error
	}{
		{"file written for another URL", `{"cm_url":"https://other.example.com","token":{"id_token":"x"}}`, ErrNotCached},
		{"no token in the file", `{"cm_url":"https://cm.example.com"}`, ErrNotCached},
		{"not JSON", `{{{`, nil},
		{"too large", `{"cm_url":"` + strings.Repeat("a", MaxCacheFileBytes) + `"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := cache.Load("https://cm.example.com")
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, want an error (%v)", err, tt.want)
			}
		})
	}
	if err := cache.Delete("https://cm.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := cache.Delete("https://cm.example.com"); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	if err := cache.Save("https://cm.example.com", nil); err == nil {
		t.Fatal("Save(nil) succeeded")
	}
}

func TestTokenCacheDefaultDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	path, err := TokenCache{}.Path("https://cm.example.com")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.UserConfigDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(base, "portcullis") {
		t.Fatalf("Path = %s, want it under %s", path, filepath.Join(base, "portcullis"))
	}
}

func jwtWithPayload(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestUnverifiedExpiry(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want time.Time
		ok   bool
	}{
		{"exp", jwtWithPayload(`{"exp":1900000000}`), time.Unix(1900000000, 0), true},
		{"fractional exp", jwtWithPayload(`{"exp":1900000000.5}`), time.Unix(1900000000, 5e8), true},
		{"no exp", jwtWithPayload(`{"sub":"x"}`), time.Time{}, false},
		{"exp is text", jwtWithPayload(`{"exp":"soon"}`), time.Time{}, false},
		{"negative exp", jwtWithPayload(`{"exp":-5}`), time.Time{}, false},
		{"huge exp", jwtWithPayload(`{"exp":1e300}`), time.Time{}, false},
		{"two parts", "a.b", time.Time{}, false},
		{"bad base64", "a.!!!.c", time.Time{}, false},
		{"payload not an object", jwtWithPayload(`[1]`), time.Time{}, false},
		{"too large", strings.Repeat("a", MaxTokenBytes+1), time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnverifiedExpiry(tt.raw)
			if tt.ok != (err == nil) || !got.Equal(tt.want) {
				t.Fatalf("UnverifiedExpiry = %v, %v; want %v (ok %t)", got, err, tt.want, tt.ok)
			}
		})
	}
}

func FuzzUnverifiedExpiry(f *testing.F) {
	f.Add(jwtWithPayload(`{"exp":1900000000}`))
	f.Add(jwtWithPayload(`{"exp":1e300}`))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, raw string) {
		exp, err := UnverifiedExpiry(raw)
		if err == nil && (exp.Before(time.Unix(0, 0)) || exp.Year() > 9999) {
			t.Fatalf("UnverifiedExpiry(%q) = %v", raw, exp)
		}
	})
}

func FuzzTokenCacheFile(f *testing.F) {
	f.Add([]byte(`{"cm_url":"https://cm","token":{"id_token":"a.b.c","expiry":"2030-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"cm_url":"https://cm","token":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := decodeCacheFile(data, "https://cm", "fuzz.json")
		if err == nil && tok == nil {
			t.Fatal("no error and no token")
		}
	})
}
