package guest

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCopy moves a 32 MiB file each way through the real Host's SFTP server over
// loopback TCP, beside exec cat; Guest and Host run in this process, so a CPU profile
// (-cpuprofile) shows both ends.
func BenchmarkCopy(b *testing.B) {
	const size = 32 << 20
	f := newFixture(b)
	client := connected(b, f)
	local, remote := b.TempDir(), b.TempDir()
	src := filepath.Join(local, "src.bin")
	out, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(out, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	out.Close()
	cp, err := NewCopier(client, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Client.Close()
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := cp.Upload(b.Context(), src, filepath.Join(remote, "up.bin")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := cp.Download(b.Context(), src, filepath.Join(local, "down.bin")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
