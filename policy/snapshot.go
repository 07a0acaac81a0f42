package policy

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"path"
	"testing/fstest"
)

// maxPolicyDirBytes bounds the policy files a Manager reads from a directory in one reload:
// its .rego modules and tests and its input schema, together.
const maxPolicyDirBytes = 64 << 20

// snapshotCandidate reads a policy's files from fsys once, into memory, and fingerprints
// those bytes: a reload then tests, compiles and remembers the very same policy however the
// directory changes meanwhile (an edit landing between the tests' read and the compiler's
// would otherwise roll out modules that never passed their tests).
func snapshotCandidate(fsys fs.FS) (candidate, error) {
	snap, err := snapshotFS(fsys, maxPolicyDirBytes)
	if err != nil {
		return candidate{}, err
	}
	fp, err := fingerprintFS(snap)
	return candidate{fsys: snap, fingerprint: fp}, err
}

// snapshotFS copies the files a policy is read from (every .rego file, tests included, and
// the input.schema.json at the root) into memory, refusing with ErrInvalidPolicy more than
// limit bytes in all; other files are left out.
func snapshotFS(fsys fs.FS, limit int64) (fstest.MapFS, error) {
	snap := fstest.MapFS{}
	left := limit
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != regoSuffix && p != inputSchemaFile {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, left+1))
		if err != nil {
			return err
		}
		if left -= int64(len(data)); left < 0 {
			return fmt.Errorf("the policy's files are larger than %d bytes in all (at %s)", limit, p)
		}
		snap[p] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return snap, nil
}

// fingerprintFS hashes every file's path and content, so that any change shows.
func fingerprintFS(fsys fs.FS) ([sha256.Size]byte, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	var fp [sha256.Size]byte
	if err != nil {
		return fp, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	copy(fp[:], h.Sum(nil))
	return fp, nil
}
