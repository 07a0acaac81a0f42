package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"leading v dropped", []string{"-version", "v1.2.0"}, ""},
		{"bad platform", []string{"-platforms", "linux"}, "want GOOS/GOARCH"},
		{"deb without its platform", []string{"-platforms", "darwin/arm64", "-deb", "amd64"}, "needs linux/amd64"},
		{"bad date", []string{"-date", "yesterday"}, "-date"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
		{"a binary for one platform", []string{"-platforms", "linux/amd64", "-deb", "amd64", "-bin", "bin/portcullis"}, ""},
		{"a binary for two platforms", []string{"-bin", "bin/portcullis"}, "exactly one platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(o.version, "v") || len(o.platforms) == 0 {
				t.Fatalf("parseFlags(%q) = %+v", tt.args, o)
			}
		})
	}
}

// TestArchivesAndSums packs a stand-in binary for a Unix and a Windows platform, reads both
// archives back and checks SHA256SUMS against the files.
func TestArchivesAndSums(t *testing.T) {
	repo, out := t.TempDir(), t.TempDir()
	for _, d := range docFiles {
		p := filepath.Join(repo, d)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("doc "+d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "portcullis")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range []platform{{"linux", "arm64"}, {"windows", "amd64"}} {
		name, err := writeArchive(out, repo, "1.2.0", p, bin)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		top := "portcullis_1.2.0_" + p.os + "_" + p.arch + "/"
		want := map[string]string{top + p.exe(): "binary", top + "README.md": "doc README.md", top + "install.md": "doc docs/install.md"}
		got := readArchive(t, filepath.Join(out, name))
		if len(got) != len(want) {
			t.Fatalf("%s holds %v, want %v", name, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
	if names[0] != "portcullis_1.2.0_linux_arm64.tar.gz" || names[1] != "portcullis_1.2.0_windows_amd64.zip" {
		t.Fatalf("archive names %v", names)
	}
	if err := writeSums(out, names); err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 2 {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
	for i, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		want, err := fileSHA256(filepath.Join(out, names[i]))
		if !ok || err != nil || name != names[i] || sum != want || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q, want %s  %s (%v)", line, want, names[i], err)
		}
	}
}

// readArchive returns the regular files of a .tar.gz or .zip, name to content.
func readArchive(t *testing.T, path string) map[string]string {
	t.Helper()
	files := map[string]string{}
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			files[f.Name] = string(b)
		}
		return files
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
}
