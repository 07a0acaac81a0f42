package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// docFiles are copied from the checkout into every archive, beside the binary.
var docFiles = [...]string{"README.md", "docs/install.md"}

// archiveName is the archive of version for p: portcullis_VERSION_OS_ARCH.tar.gz, or .zip on
// Windows.
func archiveName(version string, p platform) string {
	ext := ".tar.gz"
	if p.os == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("portcullis_%s_%s_%s%s", version, p.os, p.arch, ext)
}

// archiveEntry is one file of an archive: its name inside and the file it is read from.
type archiveEntry struct {
	name, src string
	mode      os.FileMode
}

// writeArchive packs bin and the documentation into out/archiveName under a top directory
// named like the archive.
func writeArchive(out, repo, version string, p platform, bin string) (string, error) {
	name := archiveName(version, p)
	top := fmt.Sprintf("portcullis_%s_%s_%s/", version, p.os, p.arch)
	entries := []archiveEntry{{top + p.exe(), bin, 0o755}}
	for _, d := range docFiles {
		entries = append(entries, archiveEntry{top + filepath.Base(d), filepath.Join(repo, d), 0o644})
	}
	f, err := os.Create(filepath.Join(out, name))
	if err != nil {
		return "", err
	}
	if p.os == "windows" {
		err = writeZip(f, entries)
	} else {
		err = writeTarGz(f, entries)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return name, err
}

func writeTarGz(w io.Writer, entries []archiveEntry) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := addFile(e, func(st os.FileInfo, r io.Reader) error {
			hdr := &tar.Header{Name: e.name, Mode: int64(e.mode), Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err := io.Copy(tw, r)
			return err
		}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, entries []archiveEntry) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		if err := addFile(e, func(st os.FileInfo, r io.Reader) error {
			hdr, err := zip.FileInfoHeader(st)
			if err != nil {
				return err
			}
			hdr.Name, hdr.Method = e.name, zip.Deflate
			hdr.SetMode(e.mode)
			fw, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			_, err = io.Copy(fw, r)
			return err
		}); err != nil {
			return err
		}
	}
	return zw.Close()
}

// addFile opens e.src and hands its metadata and content to add.
func addFile(e archiveEntry, add func(os.FileInfo, io.Reader) error) error {
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := add(st, bufio.NewReader(f)); err != nil {
		return fmt.Errorf("add %s: %w", e.src, err)
	}
	return nil
}

// writeSums writes out/SHA256SUMS over the named files in out, in sha256sum's format (sorted
// by name), so that `sha256sum -c SHA256SUMS` checks them.
func writeSums(out string, names []string) error {
	names = slices.Sorted(slices.Values(names))
	var lines []byte
	for _, n := range names {
		sum, err := fileSHA256(filepath.Join(out, n))
		if err != nil {
			return err
		}
		lines = fmt.Appendf(lines, "%s  %s\n", sum, n)
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), lines, 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
