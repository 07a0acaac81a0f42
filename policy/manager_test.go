package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// copyDefaultPolicy writes the default policy's files into a new directory.
func copyDefaultPolicy(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(defaultpolicy.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(defaultpolicy.Files(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// editFile replaces old with new in a file, failing the test if old is absent.
func editFile(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestManagerKeepsTheLastGoodPolicy(t *testing.T) {
	dir := copyDefaultPolicy(t)
	m, err := NewManager(t.Context(), ManagerConfig{Dir: dir})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	good := m.Current()
	st := m.Status()
	if st.Revision != good.Revision() || st.Origin != OriginDir || st.Tests < minRegoTests || st.LastError != "" {
		t.Fatalf("status %+v, want the directory's policy with its tests passed", st)
	}
	authz := filepath.Join(dir, "authz.rego")
	orig, _ := os.ReadFile(authz)
	broken := []struct {
		name, old, new string
		want           error
	}{
		{"does not parse", "default allow := false", "default allow := ", ErrInvalidPolicy},
		{"does not compile", "default allow := false", "default allow := undefined_thing", ErrInvalidPolicy},
		{"fails its own tests", `"start": "08:00"`, `"start": "09:00"`, ErrTestsFailed},
	}
	for i, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			if err := os.WriteFile(authz, orig, 0o600); err != nil {
				t.Fatal(err)
			}
			editFile(t, authz, b.old, b.new)
			changed, err := m.Reload(t.Context())
			if changed || !errors.Is(err, b.want) {
				t.Fatalf("Reload = %v, %v; want refused with %v", changed, err, b.want)
			}
			if m.Current() != good {
				t.Fatal("a refused policy replaced the running one")
			}
			st := m.Status()
			if st.Revision != good.Revision() || st.LastError == "" || st.Failures != int64(i+1) || st.Reloads != 0 {
				t.Errorf("status %+v, want the good revision, the error and %d failures", st, i+1)
			}
			if changed, err := m.Reload(t.Context()); changed || err != nil {
				t.Errorf("second Reload of the same bad policy = %v, %v; want no new attempt", changed, err)
			}
		})
	}
	// A good change (a new module, its test passing) rolls out.
	if err := os.WriteFile(authz, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	editFile(t, filepath.Join(dir, "authz.rego"), "default_max_duration_seconds := 3600", "default_max_duration_seconds := 3600 # reviewed")
	changed, err := m.Reload(t.Context())
	if !changed || err != nil {
		t.Fatalf("Reload of a good change = %v, %v", changed, err)
	}
	st = m.Status()
	if m.Current() == good || st.Revision == good.Revision() || st.Reloads != 1 || st.LastError != "" {
		t.Errorf("status %+v after a good change, want a new revision and no error", st)
	}
}

func TestManagerRunPicksUpChanges(t *testing.T) {
	dir := copyDefaultPolicy(t)
	m, err := NewManager(t.Context(), ManagerConfig{Dir: dir, PollInterval: 10e6})
	if err != nil {
		t.Fatal(err)
	}
	first := m.Status().Revision
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	editFile(t, filepath.Join(dir, "authz.rego"), "default_max_duration_seconds := 3600", "default_max_duration_seconds := 3600 # reviewed")
	waitFor(t, func() bool { return m.Status().Revision != first })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestNewManagerRefusesABadFirstPolicy(t *testing.T) {
	dir := copyDefaultPolicy(t)
	editFile(t, filepath.Join(dir, "authz.rego"), `"end": "18:00"`, `"end": "17:00"`)
	if _, err := NewManager(t.Context(), ManagerConfig{Dir: dir}); !errors.Is(err, ErrTestsFailed) {
		t.Errorf("NewManager error = %v, want ErrTestsFailed", err)
	}
	for name, cfg := range map[string]ManagerConfig{
		"dir and bundle":     {Dir: dir, Bundle: "b.tar.gz", Verify: BundleVerification{KeyID: "k", Key: "s"}},
		"bundle without key": {Bundle: "b.tar.gz"},
		"negative interval":  {PollInterval: -1},
	} {
		if _, err := NewManager(t.Context(), cfg); err == nil {
			t.Errorf("%s: NewManager accepted the configuration", name)
		}
	}
}

// testKeys returns a bundle signing key and its public key, both PEM.
func testKeys(t testing.TB) (private, public string) {
	t.Helper()
	priv, pub, err := GenerateBundleKey()
	if err != nil {
		t.Fatal(err)
	}
	return string(priv), string(pub)
}

// writeBundle signs fsys into a bundle file.
func writeBundle(t *testing.T, file string, fsys fs.FS, revision string, s BundleSigning) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBundle(&buf, fsys, revision, s); err != nil {
		t.Fatalf("WriteBundle: %v", err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSignedBundleRollsOutAndABadSignatureIsRefused(t *testing.T) {
	priv, pub := testKeys(t)
	otherPriv, _ := testKeys(t)
	file := filepath.Join(t.TempDir(), "policy.tar.gz")
	writeBundle(t, file, defaultpolicy.Files(), "release-1", BundleSigning{KeyID: "policy-2026", Key: priv})
	m, err := NewManager(t.Context(), ManagerConfig{Bundle: file, Verify: BundleVerification{KeyID: "policy-2026", Key: pub}})
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	if st := m.Status(); st.Revision != "release-1" || st.Origin != OriginBundle || st.Tests < minRegoTests {
		t.Fatalf("status %+v, want bundle revision release-1 with its tests passed", st)
	}
	res, err := m.Current().Decide(t.Context(), Input{Subject: Subject{ID: "mallory@example.com"}, Request: Request{Action: "connect"}})
	if err != nil || res.Revision != "release-1" || res.Decision.Allow {
		t.Fatalf("decision %+v, %v; want a refusal recorded with revision release-1", res, err)
	}
	refused := []struct {
		name string
		sign BundleSigning
	}{
		{"signed with another key", BundleSigning{KeyID: "policy-2026", Key: otherPriv}},
		{"signed with a shared secret instead", BundleSigning{KeyID: "policy-2026", Key: "secret", Algorithm: "HS256"}},
	}
	for i, r := range refused {
		writeBundle(t, file, defaultpolicy.Files(), "release-bad-"+r.name, r.sign)
		if changed, err := m.Reload(t.Context()); changed || !errors.Is(err, ErrBundleSignature) {
			t.Errorf("%s: Reload = %v, %v; want ErrBundleSignature", r.name, changed, err)
		}
		if st := m.Status(); st.Revision != "release-1" || st.Failures != int64(i+1) || !strings.Contains(st.LastError, "signature") {
			t.Errorf("%s: status %+v, want release-1 still serving and the failure shown", r.name, st)
		}
	}
	// A bundle whose modules were changed after signing, and one without a signature, are refused too.
	for name, body := range map[string][]byte{
		"tampered": tamperBundle(t, defaultpolicy.Files(), priv),
		"unsigned": stripSignature(t, defaultpolicy.Files(), priv),
	} {
		if err := os.WriteFile(file, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if changed, err := m.Reload(t.Context()); changed || !errors.Is(err, ErrBundleSignature) {
			t.Errorf("%s bundle: Reload = %v, %v; want ErrBundleSignature", name, changed, err)
		}
	}
	if m.Status().Revision != "release-1" {
		t.Errorf("status %+v, want release-1 still serving", m.Status())
	}
	writeBundle(t, file, defaultpolicy.Files(), "release-2", BundleSigning{KeyID: "policy-2026", Key: priv})
	if changed, err := m.Reload(t.Context()); !changed || err != nil || m.Status().Revision != "release-2" {
		t.Errorf("good bundle: Reload = %v, %v, status %+v; want release-2", changed, err, m.Status())
	}
}

// tamperBundle signs the default policy, then swaps a module's text for one that allows
// everything, keeping the signature.
func tamperBundle(t *testing.T, fsys fs.FS, priv string) []byte {
	t.Helper()
	var signed bytes.Buffer
	if err := WriteBundle(&signed, fsys, "r", BundleSigning{KeyID: "policy-2026", Key: priv}); err != nil {
		t.Fatal(err)
	}
	evil := fstest.MapFS{"authz.rego": {Data: []byte("package portcullis.authz\n\ndecision := {\"allow\": true}\n")}}
	var unsigned bytes.Buffer
	if err := WriteBundle(&unsigned, evil, "r", BundleSigning{KeyID: "policy-2026", Key: priv}); err != nil {
		t.Fatal(err)
	}
	return replaceSignature(t, unsigned.Bytes(), readTarGz(t, signed.Bytes())["/.signatures.json"])
}

// stripSignature signs fsys into a bundle, then removes its .signatures.json.
func stripSignature(t *testing.T, fsys fs.FS, priv string) []byte {
	t.Helper()
	var signed bytes.Buffer
	if err := WriteBundle(&signed, fsys, "r", BundleSigning{KeyID: "policy-2026", Key: priv}); err != nil {
		t.Fatal(err)
	}
	return replaceSignature(t, signed.Bytes(), nil)
}

// replaceSignature returns the bundle body with its .signatures.json replaced by sig, or
// removed when sig is nil.
func replaceSignature(t *testing.T, body, sig []byte) []byte {
	t.Helper()
	files := readTarGz(t, body)
	if files["/.signatures.json"] == nil {
		t.Fatalf("bundle without signatures: %v", files)
	}
	files["/.signatures.json"] = sig
	if sig == nil {
		delete(files, "/.signatures.json")
	}
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readTarGz(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}

// waitFor polls ok for up to a generous minute.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnEngineIsAFixedSource(t *testing.T) {
	e := newEngine(t)
	var src Source = e
	if st := src.Status(); src.Current() != e || st.Revision != e.Revision() || st.Origin != OriginFixed || st.LoadedAt.IsZero() {
		t.Errorf("engine as a source: status %+v", st)
	}
}
