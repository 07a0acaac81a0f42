package hostauth

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestListenConfirmRefusedOnWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confirm.sock")
	ln, err := ListenConfirm(path, "")
	if err == nil {
		ln.Close()
		t.Fatal("ListenConfirm succeeded on Windows, where the socket's mode protects nothing")
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ListenConfirm = %v, want errors.ErrUnsupported", err)
	}
}
