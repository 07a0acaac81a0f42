package certs

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestSSHUserCA(t *testing.T) {
	dir := initP384(t)
	signer, err := LoadSSHSigner(filepath.Join(dir, SSHUserCAFile))
	if err != nil {
		t.Fatalf("LoadSSHSigner: %v", err)
	}
	line, err := os.ReadFile(filepath.Join(dir, SSHUserCAPubFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		t.Fatalf("ParseAuthorizedKey: %v", err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 || len(rest) != 0 {
		t.Fatalf("public key type %q, %d trailing bytes, comment %q", pub.Type(), len(rest), comment)
	}
	if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		t.Fatal("ssh_user_ca.pub does not match ssh_user_ca")
	}
	// The CA signs a user certificate that an SSH server's checker accepts.
	userPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshUser, err := ssh.NewPublicKey(userPub)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: sshUser, CertType: ssh.UserCert, ValidPrincipals: []string{"alice@example.com"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatalf("SignCert: %v", err)
	}
	checker := ssh.CertChecker{IsUserAuthority: func(auth ssh.PublicKey) bool { return bytes.Equal(auth.Marshal(), pub.Marshal()) }}
	if err := checker.CheckCert("alice@example.com", cert); err != nil {
		t.Fatalf("CheckCert: %v", err)
	}
}

func TestTicketKeyFiles(t *testing.T) {
	dir := initP384(t)
	priv, err := LoadEd25519PrivateKey(filepath.Join(dir, TicketKeyFile))
	if err != nil {
		t.Fatalf("LoadEd25519PrivateKey: %v", err)
	}
	pub, err := LoadEd25519PublicKey(filepath.Join(dir, TicketPubFile))
	if err != nil {
		t.Fatalf("LoadEd25519PublicKey: %v", err)
	}
	if !pub.Equal(priv.Public()) {
		t.Fatal("ticket.pub does not match ticket.key")
	}
	path := filepath.Join(t.TempDir(), "rotated.key")
	if err := WriteEd25519PrivateKey(path, priv); err != nil {
		t.Fatalf("WriteEd25519PrivateKey: %v", err)
	}
	back, err := LoadEd25519PrivateKey(path)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != PrivateKeyMode {
		t.Fatalf("mode %v, %v; want %v", info.Mode().Perm(), err, PrivateKeyMode)
	}
	if err := WriteEd25519PrivateKey(path, priv[:10]); err == nil {
		t.Fatal("WriteEd25519PrivateKey accepted a short key")
	}
}

func TestLoaderRefusals(t *testing.T) {
	dir := initP384(t)
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, []byte("not pem at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		load func() error
	}{
		{"ed25519 private from CA key", func() error { _, err := LoadEd25519PrivateKey(path(CAKeyFile)); return err }},
		{"ed25519 private from junk", func() error { _, err := LoadEd25519PrivateKey(junk); return err }},
		{"ed25519 private from public", func() error { _, err := LoadEd25519PrivateKey(path(TicketPubFile)); return err }},
		{"ed25519 public from certificate", func() error { _, err := LoadEd25519PublicKey(path(CAFile)); return err }},
		{"ssh signer from junk", func() error { _, err := LoadSSHSigner(junk); return err }},
		{"ssh signer from missing file", func() error { _, err := LoadSSHSigner(path("absent")); return err }},
		{"cert pool from junk", func() error { _, err := LoadCertPool(junk); return err }},
		{"cert pool from key", func() error { _, err := LoadCertPool(path(CAKeyFile)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.load(); err == nil {
				t.Fatal("loader accepted the wrong file")
			}
		})
	}
}
