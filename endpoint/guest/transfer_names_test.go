package guest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// pipeCopier connects a recursive Copier to the SFTP server serve runs on in-memory pipes.
func pipeCopier(t *testing.T, serve func(io.ReadWriteCloser)) *Copier {
	t.Helper()
	cr, sw := io.Pipe()
	sr, cw := io.Pipe()
	go serve(struct {
		io.Reader
		io.WriteCloser
	}{sr, sw})
	client, err := sftp.NewClientPipe(cr, cw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cr.Close()
		_ = sr.Close()
		_ = client.Close()
	})
	return &Copier{Client: client, Recursive: true, RequestSize: 32 << 10}
}

// dirServer serves the real directory dir over SFTP, as a Host's sftp subsystem does.
func dirServer(dir string) func(io.ReadWriteCloser) {
	return func(rw io.ReadWriteCloser) {
		s, err := sftp.NewServer(rw, sftp.WithServerWorkingDirectory(dir))
		if err == nil {
			_ = s.Serve()
		}
	}
}

// writeFiles writes each file of files (by slash-separated name) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// filesUnder lists the files below dir by slash-separated path.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// 'cp -r web-1: DIR' (the Host's home directory, ".") and the like keep the leading dot of
// every name: .env and env are two files.
func TestDownloadOfADirectoryKeepsDotFiles(t *testing.T) {
	tests := []struct {
		name      string
		src       string // as ParseLocation reads it
		dstExists bool
		want      []string
	}{
		{"the home directory into a new directory", "web-1:", false, []string{".bashrc", ".env", "env", "sub/.hidden"}},
		{"the home directory into an existing one", "web-1:", true, []string{".bashrc", ".env", "env", "sub/.hidden"}},
		{"dot slash", "web-1:./", false, []string{".bashrc", ".env", "env", "sub/.hidden"}},
		{"a subdirectory", "web-1:sub", false, []string{".hidden"}},
		{"a subdirectory into an existing directory", "web-1:sub", true, []string{"sub/.hidden"}},
		{"the parent of a subdirectory into an existing directory", "web-1:sub/..", true, []string{".bashrc", ".env", "env", "sub/.hidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := t.TempDir()
			writeFiles(t, remote, map[string]string{".bashrc": "rc", "env": "plain", ".env": "secret", "sub/.hidden": "h"})
			cp := pipeCopier(t, dirServer(remote))
			dst := filepath.Join(t.TempDir(), "back")
			if tt.dstExists {
				if err := os.Mkdir(dst, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := cp.Download(t.Context(), ParseLocation(tt.src).Path, dst); err != nil {
				t.Fatal(err)
			}
			if got := filesUnder(t, dst); !slices.Equal(got, tt.want) {
				t.Errorf("downloaded %q, want %q", got, tt.want)
			}
			if data, _ := os.ReadFile(filepath.Join(dst, ".env")); slices.Contains(tt.want, ".env") && string(data) != "secret" {
				t.Errorf(".env holds %q, want %q", data, "secret")
			}
		})
	}
}

// fakeInfo is a file or directory a malicious Host claims.
type fakeInfo struct {
	name string
	dir  bool
}

func (f fakeInfo) Name() string { return f.name }
func (f fakeInfo) Size() int64  { return int64(len(hostile)) }
func (f fakeInfo) Mode() os.FileMode {
	if f.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (f fakeInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }

// hostile is what every file of a malicious Host holds.
const hostile = "pwned\n"

// listAt answers a directory listing.
type listAt []os.FileInfo

func (l listAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// evilHost is a malicious Host's SFTP server: listing answers the nth listing (from 1) of the
// path asked; every other path is a file holding hostile.
type evilHost struct {
	listing func(n int, dir string) []os.FileInfo
	mu      sync.Mutex
	lists   int
}

func (h *evilHost) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Method == "List" {
		h.lists++
		return listAt(h.listing(h.lists, r.Filepath)), nil
	}
	return listAt{fakeInfo{name: "src", dir: r.Filepath == "/src"}}, nil // Stat, Lstat
}

func (h *evilHost) Fileread(*sftp.Request) (io.ReaderAt, error) {
	return strings.NewReader(hostile), nil
}

func (h *evilHost) serve(rw io.ReadWriteCloser) {
	_ = sftp.NewRequestServer(rw, sftp.Handlers{FileGet: h, FileList: h}).Serve()
}

// A malicious (compromised) Host answering 'cp -r web-1:src ~/dl/inner' cannot make the Guest
// write outside ~/dl/inner (as CVE-2019-6111 did for scp), nor, for a Windows Guest, with a
// name that is a path there: each such entry is refused by name, the rest is copied.
func TestDownloadRefusesHostNamesThatLeaveTheDestination(t *testing.T) {
	tests := []struct {
		name    string
		listing func(n int, dir string) []os.FileInfo
		refused string // quoted in the error
	}{
		{"a name ending in slash dot-dot climbs to the parent (CVE-2019-6111)", func(n int, _ string) []os.FileInfo {
			if n <= 2 { // the client keeps path.Base("x/..") = ".."
				return []os.FileInfo{fakeInfo{name: "x/..", dir: true}, fakeInfo{name: "ok.txt"}}
			}
			return []os.FileInfo{fakeInfo{name: "pwned"}}
		}, `".."`},
		{"a name ending in slash dot loops on the directory itself", func(int, string) []os.FileInfo {
			return []os.FileInfo{fakeInfo{name: "x/.", dir: true}, fakeInfo{name: "ok.txt"}}
		}, `"."`},
		{"the root", func(int, string) []os.FileInfo {
			return []os.FileInfo{fakeInfo{name: "/", dir: true}, fakeInfo{name: "ok.txt"}}
		}, `"/"`},
		{"backslashes climb on a Windows Guest", func(int, string) []os.FileInfo {
			return []os.FileInfo{fakeInfo{name: `..\..\pwned`}, fakeInfo{name: "ok.txt"}}
		}, `"..\\..\\pwned"`},
		{"a NUL byte", func(int, string) []os.FileInfo {
			return []os.FileInfo{fakeInfo{name: "pwned\x00.txt"}, fakeInfo{name: "ok.txt"}}
		}, `"pwned\x00.txt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &evilHost{listing: tt.listing}
			cp := pipeCopier(t, h.serve)
			base := t.TempDir()
			dst := filepath.Join(base, "dl", "inner")
			err := cp.Download(t.Context(), "src", dst)
			if !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), tt.refused) {
				t.Errorf("Download = %v, want ErrUnsafeName naming %s", err, tt.refused)
			}
			if got := filesUnder(t, base); !slices.Equal(got, []string{"dl/inner/ok.txt"}) {
				t.Errorf("the Guest holds %q, want only dl/inner/ok.txt", got)
			}
		})
	}
}
