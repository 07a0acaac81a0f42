package atomicfile

import (
	"fmt"
	"os"
)

// Write replaces path with data, with mode perm, atomically: it writes and syncs a temporary
// file in the same directory, then renames it over path.
func Write(path string, data []byte, perm os.FileMode) error {
	if err := write(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
