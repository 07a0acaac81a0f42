package privatedir

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestMakeACL checks the DACL Make sets on a new directory and on an existing one, and that a
// file created inside inherits it: one entry, the current user's, full access, protected from
// the parent's entries.
func TestMakeACL(t *testing.T) {
	me, err := currentUserSID()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	existing := filepath.Join(base, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(base, "a", "portcullis"), existing} {
		if err := Make(dir); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "token.json")
		if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dir, file} {
			checkOwnerOnly(t, p, me)
		}
	}
}

func checkOwnerOnly(t *testing.T, path string, me *windows.SID) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	control, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("%s: no DACL (%v): everyone has access", path, err)
	}
	if dacl.AceCount != 1 {
		t.Fatalf("%s: DACL has %d entries, want 1 (%s)", path, dacl.AceCount, sd)
	}
	var ace *windows.ACCESS_ALLOWED_ACE
	if err := windows.GetAce(dacl, 0, &ace); err != nil {
		t.Fatal(err)
	}
	sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
	if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || !sid.Equals(me) {
		t.Fatalf("%s: entry for %v (type %d), want an allow entry for %v (%s)", path, sid, ace.Header.AceType, me, sd)
	}
	if ace.Mask&fileAllAccess != fileAllAccess {
		t.Fatalf("%s: mask %#x, want full access", path, ace.Mask)
	}
	if filepath.Ext(path) == "" && control&windows.SE_DACL_PROTECTED == 0 {
		t.Fatalf("%s: DACL not protected: the parent's entries are inherited (%s)", path, sd)
	}
}
