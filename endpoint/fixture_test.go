package endpoint

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/policy"
)

const testPrincipal = "alice@example.com"

// newSigner returns a fresh Ed25519 SSH signer.
func newSigner(t testing.TB) ssh.Signer {
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

// fixture holds the keys and the session of one test: the CM's user CA, the Host key, the
// Guest's per-connection key.
type fixture struct {
	ca          ssh.Signer
	hostKey     ssh.Signer
	guestKey    ssh.Signer
	sessionID   string
	obligations policy.Obligations
}

// newFixture returns keys for a session that allows every channel.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{
		ca:        newSigner(t),
		hostKey:   newSigner(t),
		guestKey:  newSigner(t),
		sessionID: "sess-" + t.Name(),
		obligations: policy.Obligations{
			MaxDurationSeconds: 3600,
			MinEncryption:      LevelVeryHigh,
			Channels:           []string{"shell", "exec", "sftp", "forward"},
		},
	}
}

// request is the certs.UserCertRequest the CM would make for this fixture.
func (f *fixture) request() certs.UserCertRequest {
	return certs.UserCertRequest{
		Principal:   testPrincipal,
		SessionID:   f.sessionID,
		DecisionID:  "dec-1",
		Obligations: f.obligations,
	}
}

// cert signs the fixture's request, changed by edit when not nil.
func (f *fixture) cert(t testing.TB, edit func(*certs.UserCertRequest)) *ssh.Certificate {
	t.Helper()
	req := f.request()
	if edit != nil {
		edit(&req)
	}
	cert, err := certs.SignUserCert(f.ca, f.guestKey.PublicKey(), req)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// resign signs a hand-made certificate with ca, for shapes SignUserCert never produces.
func resign(t testing.TB, ca ssh.Signer, cert *ssh.Certificate) *ssh.Certificate {
	t.Helper()
	c := *cert
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return &c
}
