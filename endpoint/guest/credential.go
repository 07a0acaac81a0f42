package guest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/internal/privatedir"
)

// ErrNoCredential: no key-bound credential is stored for this Connection Manager.
var ErrNoCredential = errors.New("no credential for this Connection Manager")

// credentialFileMode keeps the Guest's key and certificate readable by their owner only.
const credentialFileMode = 0o600

// CredentialStore keeps a Guest's key-bound credential per Connection Manager beside the
// token cache: an Ed25519 key (credential-<hash>.key) that never leaves the machine and the
// client certificate the CM issued for it (credential-<hash>.crt), both mode 0600.
type CredentialStore struct {
	// Dir is the directory; "" means the token cache's default.
	Dir string
}

// paths returns the files of the credential for the CM at cmURL.
func (s CredentialStore) paths(cmURL string) (keyPath, certPath string, err error) {
	c := identity.TokenCache{Dir: s.Dir}
	if keyPath, err = c.File(cmURL, "credential", ".key"); err != nil {
		return "", "", err
	}
	certPath, err = c.File(cmURL, "credential", ".crt")
	return keyPath, certPath, err
}

// Load returns the stored credential and its certificate; ErrNoCredential when there is none.
func (s CredentialStore) Load(cmURL string) (tls.Certificate, *x509.Certificate, error) {
	keyPath, certPath, err := s.paths(cmURL)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, nil, fmt.Errorf("%w: %s", ErrNoCredential, cmURL)
	}
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("read credential: %w", err)
	}
	key, err := certs.LoadEd25519PrivateKey(keyPath)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("%w: %w", ErrNoCredential, err)
	}
	return parseCredential(certPEM, key)
}

// parseCredential pairs the CM's PEM certificate with key, which it must certify.
func parseCredential(certPEM []byte, key ed25519.PrivateKey) (tls.Certificate, *x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return tls.Certificate{}, nil, errors.New("credential: no PEM certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("credential: %w", err)
	}
	if pub, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !pub.Equal(key.Public()) {
		return tls.Certificate{}, nil, errors.New("credential: the certificate is not for the stored key")
	}
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key, Leaf: leaf}, leaf, nil
}

// Delete removes the stored credential; no error when there is none.
func (s CredentialStore) Delete(cmURL string) error {
	keyPath, certPath, err := s.paths(cmURL)
	if err != nil {
		return err
	}
	for _, p := range []string{certPath, keyPath} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete credential: %w", err)
		}
	}
	return nil
}

// Obtain generates a fresh Ed25519 key, exchanges idToken (once: the CM refuses a second
// exchange of the same token) for a client certificate for it, stores both, and returns the
// credential. hc carries the CM's TLS trust.
func (s CredentialStore) Obtain(ctx context.Context, hc *http.Client, cmURL, idToken string) (tls.Certificate, *x509.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate credential key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("credential key: %w", err)
	}
	var resp api.CredentialResponse
	req := api.CredentialRequest{PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	if err := api.Call(ctx, hc, http.MethodPost, strings.TrimSuffix(cmURL, "/")+api.PathCredential, idToken, req, &resp); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("obtain a credential from the CM: %w", err)
	}
	cert, leaf, err := parseCredential([]byte(resp.Certificate), key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	keyPath, certPath, err := s.paths(cmURL)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	if err := privatedir.Make(filepath.Dir(keyPath)); err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("credential directory: %w", err)
	}
	if err := certs.WriteEd25519PrivateKey(keyPath, key); err != nil {
		return tls.Certificate{}, nil, err
	}
	if err := atomicfile.Write(certPath, []byte(resp.Certificate), credentialFileMode); err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, leaf, nil
}

// credentialMargin is how long before its expiry a credential or token counts as expired, so
// that a request never starts with one that runs out in flight.
const credentialMargin = time.Minute

// Usable reports whether a credential or token valid until expiry can still be used at now.
func Usable(expiry, now time.Time) bool {
	return !expiry.IsZero() && now.Add(credentialMargin).Before(expiry)
}
