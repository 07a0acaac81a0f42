package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestWrite(t *testing.T) {
	strictUmask(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	tests := []struct {
		data string
		mode os.FileMode
	}{
		{"first", 0o600},
		{"second, replacing the first", 0o644},
		{"", 0o600},
	}
	for _, tt := range tests {
		if err := Write(path, []byte(tt.data), tt.mode); err != nil {
			t.Fatalf("Write(%q): %v", tt.data, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tt.data {
			t.Fatalf("read back %q, %v; want %q", got, err, tt.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != tt.mode {
			t.Errorf("mode %v, want %v whatever the umask", fi.Mode().Perm(), tt.mode)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the directory holds %d entries (%v), want only the file: a temporary file was left", len(entries), err)
	}
}

func TestWriteIntoAMissingDirectoryFailsAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %d entries behind", len(entries))
	}
}
