package policy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// A missing policy directory is named by its path, not by os.DirFS's ".".
func TestAMissingPolicyDirectoryIsNamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nonexistent")
	_, err := NewManager(t.Context(), ManagerConfig{Dir: dir})
	if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("NewManager: %v, want ErrInvalidPolicy naming %s", err, dir)
	}
}
