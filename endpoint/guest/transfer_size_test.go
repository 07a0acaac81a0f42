package guest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"

	"github.com/portcullis/portcullis/endpoint"
)

// copySizes are file sizes around the request sizes, and one of several MiB.
var copySizes = []int{
	0, 1, endpoint.SFTPPacketMax - 1, endpoint.SFTPPacketMax, endpoint.SFTPPacketMax + 1, 1 << 15,
	endpoint.SFTPLargePacket - 1, endpoint.SFTPLargePacket, endpoint.SFTPLargePacket + 1, 6<<20 + 13,
}

// TestCopierRequestSizeFollowsTheHost: a Guest asks a Host that announces its read size for
// that much per request, and a Host that announces nothing (one from before the
// announcement: pkg/sftp's 32 KiB reads) for endpoint.SFTPPacketMax; files around both sizes
// and of several MiB arrive byte-identical both ways. The last case shows what the
// announcement prevents: large requests to a Host that reads 32 KiB cut holes out of a download.
func TestCopierRequestSizeFollowsTheHost(t *testing.T) {
	local := t.TempDir()
	files := map[int][]byte{}
	for _, n := range copySizes {
		files[n] = make([]byte, n)
		_, _ = rand.Read(files[n])
		if err := os.WriteFile(filepath.Join(local, fmt.Sprint(n)), files[n], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name     string
		readMax  int // the Host's SSHConfig.SFTPReadMax
		force    int // when set, the Guest asks for this much whatever the Host said
		wantSize int
		intact   bool // every download arrives whole
	}{
		{"a Host that does not announce", 0, 0, endpoint.SFTPPacketMax, true},
		{"a Host that announces the large size", endpoint.SFTPLargePacket, 0, endpoint.SFTPLargePacket, true},
		{"a Host that announces 100000 bytes", 100000, 0, 100000, true},
		{"a Guest ignoring a Host that does not announce", 0, endpoint.SFTPLargePacket, endpoint.SFTPLargePacket, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			scfg := f.serverConfig()
			scfg.SFTPReadMax = c.readMax
			p := connect(t, t.Context(), scfg, f.clientConfig(t, f.Cert(t, nil)))
			if p.clientErr != nil {
				t.Fatalf("Handshake: %v (host: %v)", p.clientErr, p.served())
			}
			cp := newTestCopier(t, p, c.force)
			if cp.RequestSize != c.wantSize {
				t.Fatalf("RequestSize = %d, want %d", cp.RequestSize, c.wantSize)
			}
			remote, back := t.TempDir(), t.TempDir()
			var cut []int
			for _, n := range copySizes {
				name := fmt.Sprint(n)
				if err := cp.Upload(t.Context(), filepath.Join(local, name), remote); err != nil {
					t.Fatalf("upload of %d bytes: %v", n, err)
				}
				if got, _ := os.ReadFile(filepath.Join(remote, name)); !bytes.Equal(got, files[n]) {
					t.Errorf("upload of %d bytes: %d bytes differ", n, len(got))
				}
				if err := cp.Download(t.Context(), filepath.Join(remote, name), back); err != nil {
					t.Fatalf("download of %d bytes: %v", n, err)
				}
				if got, _ := os.ReadFile(filepath.Join(back, name)); !bytes.Equal(got, files[n]) {
					cut = append(cut, n)
				}
			}
			if c.intact && len(cut) > 0 {
				t.Errorf("downloads of %v bytes differ", cut)
			}
			if !c.intact && len(cut) == 0 {
				t.Error("every download arrived whole: the old Host answers large reads whole after all")
			}
		})
	}
}

// newTestCopier is NewCopier on p's connection, or with force set a Copier that asks for
// force bytes per request whatever the Host said.
func newTestCopier(t *testing.T, p pair, force int) *Copier {
	t.Helper()
	if force == 0 {
		cp, err := NewCopier(p.client, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cp.Client.Close() })
		return cp
	}
	_, r, w, err := startSFTP(p.client)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sftp.NewClientPipe(r, endpoint.WholeSFTPPackets(w, endpoint.ToChannel), clientOptions(force)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return &Copier{Client: client, RequestSize: force}
}
