package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// policyFiles copies the default policy into a MapFS, without the files drop names, and
// applies edit (when non-nil) to it.
func policyFiles(t *testing.T, edit func(fstest.MapFS), drop ...string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(defaultpolicy.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, pattern := range drop {
			if ok, _ := filepath.Match(pattern, p); ok {
				return nil
			}
		}
		b, err := fs.ReadFile(defaultpolicy.Files(), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(fsys)
	}
	return fsys
}

// withoutTests drops every test of the default policy.
func withoutTests(fsys fstest.MapFS) {
	for p := range fsys {
		if strings.HasSuffix(p, testSuffix) {
			delete(fsys, p)
		}
	}
}

// withEmptyTestFile keeps a _test.rego file, but one without a single test_ rule.
func withEmptyTestFile(fsys fstest.MapFS) {
	withoutTests(fsys)
	fsys["authz_test.rego"] = &fstest.MapFile{Data: []byte("package portcullis.authz_test\n\nhelper := 1\n")}
}

// withDepartmentRule adds a rule that reads input.subject.department, a field the input schema
// does not have.
func withDepartmentRule(fsys fstest.MapFS) {
	fsys["department.rego"] = &fstest.MapFile{Data: []byte("package portcullis.extra\n\nsales if input.subject.department == \"sales\"\n")}
}

// withoutSchema drops input.schema.json, as a bundle built by another tool would.
func withoutSchema(fsys fstest.MapFS) { delete(fsys, inputSchemaFile) }

// writeDir writes fsys into dir, removing whatever dir held before.
func writeDir(t *testing.T, dir string, fsys fstest.MapFS) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for p, f := range fsys {
		if err := os.WriteFile(filepath.Join(dir, p), f.Data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// gatedOrigin writes a policy where a Manager of one origin reads it.
type gatedOrigin struct {
	name string
	// config returns the Manager's configuration for a policy in dir.
	config func(dir string) ManagerConfig
	// write puts fsys where config reads it.
	write func(t *testing.T, dir string, fsys fstest.MapFS)
}

// gatedOrigins are a policy directory and a signed bundle: the gate must treat them alike.
func gatedOrigins(t *testing.T) []gatedOrigin {
	priv, pub := testKeys(t)
	return []gatedOrigin{
		{
			name:   "dir",
			config: func(dir string) ManagerConfig { return ManagerConfig{Dir: filepath.Join(dir, "policy")} },
			write: func(t *testing.T, dir string, fsys fstest.MapFS) {
				if err := os.MkdirAll(filepath.Join(dir, "policy"), 0o700); err != nil {
					t.Fatal(err)
				}
				writeDir(t, filepath.Join(dir, "policy"), fsys)
			},
		},
		{
			name: "bundle",
			config: func(dir string) ManagerConfig {
				return ManagerConfig{Bundle: filepath.Join(dir, "policy.tar.gz"), Verify: BundleVerification{KeyID: "policy-2026", Key: pub}}
			},
			write: func(t *testing.T, dir string, fsys fstest.MapFS) {
				writeBundle(t, filepath.Join(dir, "policy.tar.gz"), fsys, "r-"+fingerprint(t, fsys), BundleSigning{KeyID: "policy-2026", Key: priv})
			},
		},
	}
}

// fingerprint names a policy's content, so that each bundle written has a revision of its own.
func fingerprint(t *testing.T, fsys fs.FS) string {
	t.Helper()
	fp, err := fingerprintFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", fp[:6])
}

// jsonEqual reports whether two JSON documents have the same value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// A policy without tests is refused at start and on reload, from a directory and a bundle
// alike, unless the Manager allows untested policies; then Status says so.
func TestThePolicyGateRefusesAnUntestedPolicy(t *testing.T) {
	for _, origin := range gatedOrigins(t) {
		for _, tc := range []struct {
			name  string
			edit  func(fstest.MapFS)
			allow bool
		}{
			{"no _test.rego files", withoutTests, false},
			{"a _test.rego file without tests", withEmptyTestFile, false},
			{"no _test.rego files, untested allowed", withoutTests, true},
		} {
			t.Run(origin.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				cfg := origin.config(dir)
				cfg.AllowUntested = tc.allow

				// At start.
				origin.write(t, dir, policyFiles(t, tc.edit))
				m, err := NewManager(t.Context(), cfg)
				if !tc.allow {
					if !errors.Is(err, ErrUntested) || m != nil {
						t.Fatalf("NewManager = %v, %v; want ErrUntested", m, err)
					}
				} else {
					if err != nil {
						t.Fatalf("NewManager with untested policies allowed: %v", err)
					}
					if st := m.Status(); !st.Untested || !st.AllowUntested || st.Tests != 0 || st.LastError != "" {
						t.Errorf("status %+v, want an untested policy serving and the allowance shown", st)
					}
				}

				// On reload, after a tested policy served.
				origin.write(t, dir, policyFiles(t, nil))
				m, err = NewManager(t.Context(), cfg)
				if err != nil {
					t.Fatalf("NewManager with tests: %v", err)
				}
				good := m.Current()
				if st := m.Status(); st.Untested || st.AllowUntested != tc.allow || st.Tests < minRegoTests {
					t.Fatalf("status %+v, want a tested policy", st)
				}
				origin.write(t, dir, policyFiles(t, func(fsys fstest.MapFS) {
					tc.edit(fsys)
					editMap(t, fsys, "authz.rego", "default_max_duration_seconds := 3600", "default_max_duration_seconds := 3600 # untested")
				}))
				changed, err := m.Reload(t.Context())
				st := m.Status()
				if !tc.allow {
					if changed || !errors.Is(err, ErrUntested) || m.Current() != good {
						t.Fatalf("Reload = %v, %v; want refused with ErrUntested and the last good policy serving", changed, err)
					}
					if st.Revision != good.Revision() || st.Untested || st.Failures != 1 || !strings.Contains(st.LastError, "no tests") {
						t.Errorf("status %+v, want the good revision, one failure and the reason", st)
					}
					return
				}
				if !changed || err != nil || m.Current() == good {
					t.Fatalf("Reload = %v, %v; want the untested policy rolled out", changed, err)
				}
				if !st.Untested || st.Tests != 0 || st.Failures != 0 || st.Reloads != 1 {
					t.Errorf("status %+v, want the untested policy serving and shown", st)
				}
			})
		}
	}
}

// editMap replaces old with new in one file of fsys.
func editMap(t *testing.T, fsys fstest.MapFS, name, old, new string) {
	t.Helper()
	f := fsys[name]
	if f == nil || !strings.Contains(string(f.Data), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	fsys[name] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
}

// A bundle is type-checked against input.schema.json exactly as a directory is: a rule that
// reads an input field the schema lacks is refused, at start and on reload, and so is one
// without a schema of its own (checked against the embedded one); a schema of its own that has
// the field lets it through.
func TestThePolicyGateTypeChecksBundlesAndDirectories(t *testing.T) {
	for _, origin := range gatedOrigins(t) {
		for _, tc := range []struct {
			name string
			edit func(fstest.MapFS)
			ok   bool
		}{
			{"with its input schema", withDepartmentRule, false},
			{"without an input schema", func(fsys fstest.MapFS) { withDepartmentRule(fsys); withoutSchema(fsys) }, false},
			{"with a schema that has the field", func(fsys fstest.MapFS) {
				withDepartmentRule(fsys)
				editMap(t, fsys, inputSchemaFile, `"acr": {`, `"department": {"type": "string"}, "acr": {`)
			}, true},
		} {
			t.Run(origin.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				cfg := origin.config(dir)
				origin.write(t, dir, policyFiles(t, tc.edit))
				_, err := NewManager(t.Context(), cfg)
				if tc.ok {
					if err != nil {
						t.Fatalf("NewManager: %v; want the policy whose own schema has the field", err)
					}
					return
				}
				if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "department") {
					t.Fatalf("NewManager error = %v, want a type error naming department", err)
				}
				origin.write(t, dir, policyFiles(t, nil))
				m, err := NewManager(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				good := m.Current()
				origin.write(t, dir, policyFiles(t, tc.edit))
				changed, err := m.Reload(t.Context())
				if changed || !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "department") || m.Current() != good {
					t.Fatalf("Reload = %v, %v; want a type error naming department and the last good policy serving", changed, err)
				}
				if st := m.Status(); st.Failures != 1 || !strings.Contains(st.LastError, "department") {
					t.Errorf("status %+v, want the type error shown", st)
				}
			})
		}
	}
}

// WriteBundle carries input.schema.json in the signed manifest and ReadBundle gives it back.
func TestBundleCarriesTheInputSchema(t *testing.T) {
	priv, pub := testKeys(t)
	want, err := fs.ReadFile(defaultpolicy.Files(), inputSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		fsys       fs.FS
		wantSchema bool
	}{
		{"a policy with a schema", defaultpolicy.Files(), true},
		{"a policy without one", policyFiles(t, withoutSchema), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "policy.tar.gz")
			writeBundle(t, file, tc.fsys, "r1", BundleSigning{KeyID: "k", Key: priv})
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fsys, rev, err := ReadBundle(raw, BundleVerification{KeyID: "k", Key: pub})
			if err != nil || rev != "r1" {
				t.Fatalf("ReadBundle = %v, %v", rev, err)
			}
			got, err := fs.ReadFile(fsys, inputSchemaFile)
			if !tc.wantSchema {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a schema appeared: %s, %v", got, err)
				}
				return
			}
			if err != nil || !jsonEqual(t, got, want) {
				t.Errorf("schema read back %s, %v; want input.schema.json", got, err)
			}
		})
	}
}
