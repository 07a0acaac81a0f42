package console

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"testing/fstest"
)

// Bounds of an uploaded candidate policy.
const (
	// maxUpload bounds the uploaded archive.
	maxUpload = 4 << 20
	// maxPolicyBytes bounds the archive's policy files together, unpacked.
	maxPolicyBytes = 16 << 20
	// maxPolicyFiles bounds how many policy files an archive holds.
	maxPolicyFiles = 1000
)

// errArchive is an upload that is not a policy archive the console reads.
var errArchive = errors.New("the candidate must be a policy directory as .tar, .tar.gz (an OPA bundle too) or .zip")

// readPolicyArchive unpacks an uploaded tar, gzipped tar or zip archive of a policy directory
// into a file system of its .rego and .json files (an OPA bundle's .manifest is kept too); a
// path leaving the archive's root, too many files or too many bytes is refused.
func readPolicyArchive(raw []byte) (fstest.MapFS, error) {
	switch {
	case bytes.HasPrefix(raw, []byte("PK\x03\x04")):
		return readZip(raw)
	case bytes.HasPrefix(raw, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errArchive, err)
		}
		return readTar(zr)
	case len(raw) > 262 && string(raw[257:262]) == "ustar":
		return readTar(bytes.NewReader(raw))
	}
	return nil, errArchive
}

// policyFiles collects an archive's policy files within the bounds.
type policyFiles struct {
	fs    fstest.MapFS
	bytes int64
}

// add reads one archive entry; entries that are not policy files are skipped.
func (p *policyFiles) add(name string, r io.Reader) error {
	clean := path.Clean(strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "./"))
	if clean == "." || strings.HasPrefix(clean, "../") || clean == ".." || path.IsAbs(clean) {
		return fmt.Errorf("the archive's path %q leaves its root", name)
	}
	ext := path.Ext(clean)
	if ext != ".rego" && ext != ".json" && path.Base(clean) != ".manifest" {
		return nil
	}
	if len(p.fs) >= maxPolicyFiles {
		return fmt.Errorf("the archive holds more than %d policy files", maxPolicyFiles)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPolicyBytes-p.bytes+1))
	if err != nil {
		return fmt.Errorf("%w: %w", errArchive, err)
	}
	if p.bytes += int64(len(b)); p.bytes > maxPolicyBytes {
		return fmt.Errorf("the archive's policy files exceed %d bytes", maxPolicyBytes)
	}
	p.fs[clean] = &fstest.MapFile{Data: b, Mode: 0o444}
	return nil
}

func readTar(r io.Reader) (fstest.MapFS, error) {
	p := &policyFiles{fs: fstest.MapFS{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return p.done()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errArchive, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := p.add(h.Name, tr); err != nil {
			return nil, err
		}
	}
}

func readZip(raw []byte) (fstest.MapFS, error) {
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errArchive, err)
	}
	p := &policyFiles{fs: fstest.MapFS{}}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errArchive, err)
		}
		err = p.add(f.Name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return p.done()
}

// done refuses an archive without a policy module.
func (p *policyFiles) done() (fstest.MapFS, error) {
	for name := range p.fs {
		if path.Ext(name) == ".rego" {
			return p.fs, nil
		}
	}
	return nil, errors.New("the archive holds no .rego module")
}
