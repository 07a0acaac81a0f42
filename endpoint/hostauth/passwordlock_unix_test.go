//go:build unix

package hostauth

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestLockTableDirIsMadePrivate checks that the password scheme makes the Host's state dir
// private (privatedir: 0700 here, an owner-only access list on Windows) whether it is new or
// already there and open, before it keeps the lock table there.
func TestLockTableDirIsMadePrivate(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, dir string }{
		{"new, with parents", filepath.Join(base, "var", "lib", "host")},
		{"existing and open to others", open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := openLockTable(tt.dir, start, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			table.fail(lockKey{user: "alice@example.com", logon: "maint"}, start)
			if err := table.save(); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]os.FileMode{".": 0o700, LockStateFile: lockStateMode} {
				st, err := os.Stat(filepath.Join(tt.dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), want)
				}
			}
		})
	}
}
