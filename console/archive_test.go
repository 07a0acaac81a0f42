package console

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func tarball(t *testing.T, gz bool, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func zipball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const module = "package portcullis.authz\n\ndefault allow := false\n"

func TestReadPolicyArchive(t *testing.T) {
	ok := map[string]string{"./authz.rego": module, "data.json": "{}", "README.md": "skipped", ".manifest": "{}"}
	for _, tc := range []struct {
		name  string
		raw   []byte
		files int
		err   string
	}{
		{"tar", tarball(t, false, ok), 3, ""},
		{"tar.gz", tarball(t, true, ok), 3, ""},
		{"zip", zipball(t, ok), 3, ""},
		{"path leaving the root", tarball(t, true, map[string]string{"../evil.rego": module}), 0, "leaves its root"},
		{"absolute path", zipball(t, map[string]string{"/etc/x.rego": module}), 0, "leaves its root"},
		{"no module", tarball(t, true, map[string]string{"data.json": "{}"}), 0, "no .rego module"},
		{"not an archive", []byte("package x"), 0, "must be a policy directory"},
		{"too much", tarball(t, true, map[string]string{"big.json": strings.Repeat(" ", maxPolicyBytes+1)}), 0, "exceed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := readPolicyArchive(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(fsys) != tc.files {
				t.Fatalf("%d files, %v; want %d", len(fsys), err, tc.files)
			}
		})
	}
}

func TestCandidatesMayNotReachOutOfTheCM(t *testing.T) {
	for src, refused := range map[string]bool{
		module: false,
		"package x\n\nr := http.send({\"method\": \"get\", \"url\": \"http://169.254.169.254/\"})\n": true,
		"package x\n\nr := opa.runtime().env\n":                                                      true,
		"package x\n\nr if { net.lookup_ip_addr(\"example.com\") }\n":                                true,
		"package x\n\nr := count([1, 2])\n":                                                          false,
	} {
		fsys, err := readPolicyArchive(tarball(t, true, map[string]string{"x.rego": src}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkModules(fsys, forbiddenBuiltins()); (err != nil) != refused {
			t.Errorf("checkModules(%q) = %v, want refused %v", src, err, refused)
		}
	}
}

// FuzzReadPolicyArchive feeds untrusted uploads to the archive reader: it never panics, and
// what it accepts has only clean relative paths.
func FuzzReadPolicyArchive(f *testing.F) {
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		fsys, err := readPolicyArchive(raw)
		if err != nil {
			return
		}
		for name := range fsys {
			if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") {
				t.Fatalf("accepted path %q", name)
			}
		}
	})
}
