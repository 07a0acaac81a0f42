package main

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/endpoint/host"
	"github.com/portcullis/portcullis/internal/sshtest"
)

func TestSFTPCommandPerOperatingSystem(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	found := func() (string, error) { return self, nil }
	tests := []struct {
		name       string
		goos       string
		executable func() (string, error)
		want       []string // nil: an error containing wantErr
		wantErr    string
	}{
		{"linux runs the running binary by /proc", "linux", found, []string{procSelfExe, sftpServerCmd}, ""},
		{"darwin runs its own path", "darwin", found, []string{self, sftpServerCmd}, ""},
		{"windows runs its own path", "windows", found, []string{self, sftpServerCmd}, ""},
		{"an unknown path stops the agent", "darwin", func() (string, error) { return "", errors.New("no path") }, nil, "no path"},
		{"a relative path stops the agent", "windows", func() (string, error) { return "portcullis", nil }, nil, "not an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sftpCommand(tt.goos, tt.executable)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "cp, scp and sftp") {
					t.Fatalf("sftpCommand = %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("sftpCommand = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestHostServesSFTPByRunningItsOwnBinary copies a file up and back through a Host whose SFTP
// server is the program sftpCommand names on each system: the test binary stands in for
// portcullis (TestMain), run by /proc/self/exe on Linux and by its path (os.Executable) on macOS
// and Windows.
func TestHostServesSFTPByRunningItsOwnBinary(t *testing.T) {
	systems := []string{"darwin", "windows"} // each names the binary by its path
	if runtime.GOOS == "linux" {
		systems = append(systems, "linux") // /proc/self/exe exists only there
	}
	for _, goos := range systems {
		t.Run(goos, func(t *testing.T) {
			cmdline, err := sftpCommand(goos, os.Executable)
			if err != nil {
				t.Fatal(err)
			}
			client := hostWithSFTP(t, cmdline)
			sc, err := sftp.NewClient(client)
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			path := filepath.Join(t.TempDir(), "upload.txt")
			w, err := sc.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(w, "hello from "+goos); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if onDisk, err := os.ReadFile(path); err != nil || string(onDisk) != "hello from "+goos {
				t.Fatalf("file on the Host: %q, %v", onDisk, err)
			}
			r, err := sc.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if back, err := io.ReadAll(r); err != nil || string(back) != "hello from "+goos {
				t.Fatalf("read back %q, %v", back, err)
			}
		})
	}
}

// hostWithSFTP serves one SSH session on loopback with sftpCmd as the Host's SFTP server and
// returns the Guest's authenticated client.
func hostWithSFTP(t *testing.T, sftpCmd []string) *ssh.Client {
	t.Helper()
	f := sshtest.NewFixture(t)
	cfg := host.SSHConfig{HostKey: f.HostKey, UserCA: f.CA.PublicKey(), SessionID: f.SessionID, Obligations: f.Obligations,
		SFTPCommand: sftpCmd, SFTPReadMax: sftpReadMax}
	conn, served := sshtest.Loopback(t, func(c net.Conn) error { return host.ServeSSH(t.Context(), c, cfg) })
	signer, err := ssh.NewCertSigner(f.Cert(t, nil), f.GuestKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := guest.Handshake(conn, guest.SSHConfig{User: sshtest.Principal, Signer: signer, HostKey: f.HostKey.PublicKey()})
	if err != nil {
		t.Fatalf("guest.Handshake: %v (host: %v)", err, served())
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}
