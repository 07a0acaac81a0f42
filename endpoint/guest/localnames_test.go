package guest

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseLocationReadsDriveLettersAsLocalOnlyOnWindows(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		windows bool
		want    Location
	}{
		{"a Host path", "web-1:/tmp/x", false, Location{Host: "web-1", Path: "/tmp/x"}},
		{"a Host path on Windows", "web-1:/tmp/x", true, Location{Host: "web-1", Path: "/tmp/x"}},
		{"a Host's home directory", "web-1:", false, Location{Host: "web-1", Path: "."}},
		{"a colon after a slash is local", "./a:b", false, Location{Path: "./a:b"}},
		{"a colon after a backslash is local on Windows", `.\a:b`, true, Location{Path: `.\a:b`}},
		{"an absolute local path", "/tmp/x", false, Location{Path: "/tmp/x"}},
		{"a leading colon is local", ":x", false, Location{Path: ":x"}},
		{"a one-letter Host on unix", `c:/etc/hosts`, false, Location{Host: "c", Path: "/etc/hosts"}},
		{"a drive and backslashes on Windows (story 14: bob)", `C:\Users\bob\hosts`, true, Location{Path: `C:\Users\bob\hosts`}},
		{"a drive and slashes on Windows", `C:/Users/bob/hosts`, true, Location{Path: `C:/Users/bob/hosts`}},
		{"a lower-case drive on Windows", `d:\x`, true, Location{Path: `d:\x`}},
		{"a drive-relative path on Windows", `C:notes.txt`, true, Location{Path: `C:notes.txt`}},
		{"a drive alone on Windows", `C:`, true, Location{Path: `C:`}},
		{"a long path on Windows", `\\?\C:\x`, true, Location{Path: `\\?\C:\x`}},
		{"a two-letter Host on Windows", `db:/x`, true, Location{Host: "db", Path: "/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLocation(tt.in, tt.windows); got != tt.want {
				t.Errorf("parseLocation(%q, windows %v) = %+v, want %+v", tt.in, tt.windows, got, tt.want)
			}
		})
	}
}

func TestCheckFileNameAcceptsOnlyOneFileName(t *testing.T) {
	tests := []struct {
		name          string
		file          string
		unix, windows bool // accepted on unix, on Windows
	}{
		{"a plain name", "notes.txt", true, true},
		{"a dot file", ".bashrc", true, true},
		{"three dots", "...", true, false},
		{"a device name inside a longer name", "console.log", true, true},
		{"empty", "", false, false},
		{"the directory itself", ".", false, false},
		{"the parent directory (CVE-2019-6111)", "..", false, false},
		{"a slash", "x/..", false, false},
		{"the root", "/", false, false},
		{"a backslash that climbs on Windows", `..\..\x.bat`, false, false},
		{"a backslash inside a name", `a\b`, false, false},
		{"a NUL byte", "a\x00b", false, false},
		{"a drive letter", "C:x", true, false},
		{"a stream", "notes.txt:hidden", true, false},
		{"a trailing space", "x ", true, false},
		{"a trailing dot", "x.", true, false},
		{"a parent with a trailing space", ".. ", true, false},
		{"a wildcard", "a*b", true, false},
		{"a control character", "a\tb", true, false},
		{"a device", "NUL", true, false},
		{"a device in lower case", "con", true, false},
		{"a device with an extension", "aux.txt", true, false},
		{"a numbered device", "COM1", true, false},
		{"a device with a superscript", "LPT¹", true, false},
		{"the console input", "CONIN$", true, false},
		{"not a device: COM without a number", "COM", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sys := range []struct {
				windows, want bool
			}{{false, tt.unix}, {true, tt.windows}} {
				err := checkFileName(tt.file, sys.windows)
				if (err == nil) != sys.want {
					t.Errorf("checkFileName(%q, windows %v) = %v, want accepted %v", tt.file, sys.windows, err, sys.want)
				}
				if err != nil && (!errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), strconv.Quote(tt.file))) {
					t.Errorf("checkFileName(%q): %v does not wrap ErrUnsafeName or name the file", tt.file, err)
				}
			}
		})
	}
}

func TestJoinLocalStaysInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file string
		ok         bool
	}{
		{"a file", "a.txt", true},
		{"a dot file", ".env", true},
		{"the parent", "..", false},
		{"a path", "a/../../b", false},
		{"a backslash path", `..\b`, false},
		{"an absolute path", string(filepath.Separator) + "etc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := joinLocal(dir, tt.file)
			if tt.ok && (err != nil || got != filepath.Join(dir, tt.file)) {
				t.Errorf("joinLocal(%q) = %q, %v; want it inside %s", tt.file, got, err, dir)
			}
			if !tt.ok && !errors.Is(err, ErrUnsafeName) {
				t.Errorf("joinLocal(%q) = %q, %v; want ErrUnsafeName", tt.file, got, err)
			}
		})
	}
}

// FuzzJoinLocal feeds arbitrary file names, as a Host lists them, to joinLocal: a name it
// accepts is exactly one element of the destination, whatever the OS; and a name accepted by
// Windows' rules holds no separator, colon or NUL.
func FuzzJoinLocal(f *testing.F) {
	for _, seed := range []string{"a.txt", ".env", "..", "x/..", `..\..\x.bat`, "C:x", "nul.txt", "a\x00b", "/", "trailing. ", "¹"} {
		f.Add(seed)
	}
	dir := filepath.Join(f.TempDir(), "dest")
	f.Fuzz(func(t *testing.T, name string) {
		p, err := joinLocal(dir, name)
		if err == nil && (filepath.Dir(p) != dir || filepath.Base(p) != name) {
			t.Fatalf("joinLocal(%q, %q) = %q: not one file in the destination", dir, name, p)
		}
		if checkFileName(name, true) == nil && (strings.ContainsAny(name, `/\:`+"\x00") || name == "." || name == "..") {
			t.Fatalf("%q passed as one Windows file name", name)
		}
	})
}
