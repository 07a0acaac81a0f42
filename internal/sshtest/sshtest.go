// Package sshtest holds what the certificate and end-to-end SSH tests share: the SSH key
// fixture (a user CA, a Host key, a Guest key and the session they are certified for), a
// loopback connection to a server under test, and a transcript to wait for output in. Tests
// only.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
)

// Principal is the subject the fixture certifies.
const Principal = "alice@example.com"

// NewSigner returns a fresh Ed25519 SSH signer.
func NewSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// Fixture holds the keys and the session of one test: the CM's user CA, the Host key and the
// Guest's per-connection key.
type Fixture struct {
	CA          ssh.Signer
	HostKey     ssh.Signer
	GuestKey    ssh.Signer
	SessionID   string
	Obligations access.Obligations
}

// NewFixture returns keys for a session that allows every channel.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	return &Fixture{
		CA:        NewSigner(t),
		HostKey:   NewSigner(t),
		GuestKey:  NewSigner(t),
		SessionID: "sess-" + t.Name(),
		Obligations: access.Obligations{
			MaxDurationSeconds: 3600,
			MinEncryption:      access.LevelVeryHigh,
			Channels:           []string{"shell", "exec", "sftp", "forward"},
		},
	}
}

// Request is the certificate request the CM would make for this fixture.
func (f *Fixture) Request() certs.UserCertRequest {
	return certs.UserCertRequest{
		Principal:   Principal,
		SessionID:   f.SessionID,
		DecisionID:  "dec-1",
		Obligations: f.Obligations,
	}
}

// Cert signs the fixture's request, changed by edit when not nil.
func (f *Fixture) Cert(t testing.TB, edit func(*certs.UserCertRequest)) *ssh.Certificate {
	t.Helper()
	req := f.Request()
	if edit != nil {
		edit(&req)
	}
	cert, err := certs.SignUserCert(f.CA, f.GuestKey.PublicKey(), req)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Resign signs a hand-made certificate with ca, for shapes SignUserCert never produces.
func Resign(t testing.TB, ca ssh.Signer, cert *ssh.Certificate) *ssh.Certificate {
	t.Helper()
	c := *cert
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return &c
}
