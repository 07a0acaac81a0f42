//go:build unix

package atomicfile

import (
	"os"

	"github.com/google/renameio/v2"
)

// write uses renameio's pending file, which syncs the file before the rename.
func write(path string, data []byte, perm os.FileMode) error {
	f, err := renameio.NewPendingFile(path, renameio.WithStaticPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup() // a no-op once replaced
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
