//go:build !windows

package privatedir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMakeMode(t *testing.T) {
	base := t.TempDir()
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"new with parents", filepath.Join(base, "a", "b", "portcullis")},
		{"existing open directory is narrowed", existing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Make(tt.path); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !st.IsDir() || st.Mode().Perm() != 0o700 {
				t.Fatalf("%s: mode %v, want drwx------", tt.path, st.Mode())
			}
		})
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Make(file); err == nil {
		t.Fatal("Make on a regular file succeeded")
	}
}
