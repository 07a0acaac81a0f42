//go:build unix

package guest

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A Host file whose (POSIX-legal) name holds backslashes, served from a real directory, is
// refused on every Guest: on a Windows Guest it would be a path leading out of the
// destination. (Only a Unix file system can hold such a name; the Windows Guest's refusal is
// TestDownloadRefusesHostNamesThatLeaveTheDestination's, from a Host that lists it.)
func TestDownloadRefusesARealHostFileNamedWithBackslashes(t *testing.T) {
	remote := t.TempDir()
	writeFiles(t, remote, map[string]string{`..\..\x.bat`: "evil", "ok.txt": "ok", `sub/a\b`: "evil", "sub/c": "ok"})
	cp := pipeCopier(t, dirServer(remote))
	base := t.TempDir()
	dst := filepath.Join(base, "dl", "inner")
	err := cp.Download(t.Context(), ".", dst)
	for _, name := range []string{`"..\\..\\x.bat"`, `"a\\b"`} {
		if !errors.Is(err, ErrUnsafeName) || !strings.Contains(err.Error(), name) {
			t.Errorf("Download = %v, want ErrUnsafeName naming %s", err, name)
		}
	}
	if got := filesUnder(t, base); !slices.Equal(got, []string{"dl/inner/ok.txt", "dl/inner/sub/c"}) {
		t.Errorf("the Guest holds %q, want only the two files with plain names", got)
	}
}
