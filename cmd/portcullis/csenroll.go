package main

import (
	"context"
	"crypto/ecdh"
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

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
)

// Files a CS keeps in its state directory.
const (
	relayHTTPKeyFile = "http.key"  // X25519 key of the HTTP fallback (raw, 32 bytes)
	relayKeyFile     = "relay.key" // an enrolled relay's Ed25519 client key
	relayCertFile    = "relay.crt" // an enrolled relay's client certificate, CN "relay:<id>"
)

// relayIdentity is what a CS proves itself with: the HTTP fallback key, and for a tenant's
// enrolled relay its client certificate (nil for a vendor relay, which uses cs.crt).
type relayIdentity struct {
	httpKey *ecdh.PrivateKey
	cert    *tls.Certificate
}

// loadRelayIdentity loads (or creates) the state directory's keys, enrolling the relay first
// when it has a token and no certificate yet. Without a state directory the HTTP key is fresh.
func loadRelayIdentity(ctx context.Context, cfg csConfig, pool *x509.CertPool) (relayIdentity, error) {
	if cfg.StateDir == "" {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		return relayIdentity{httpKey: k}, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return relayIdentity{}, fmt.Errorf("state dir: %w", err)
	}
	var id relayIdentity
	var err error
	if id.httpKey, err = loadOrCreateX25519(filepath.Join(cfg.StateDir, relayHTTPKeyFile)); err != nil {
		return relayIdentity{}, err
	}
	certPath := filepath.Join(cfg.StateDir, relayCertFile)
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		if cfg.EnrollToken == "" {
			return id, nil // a vendor relay
		}
		if err := enrollRelay(ctx, cfg, pool); err != nil {
			return relayIdentity{}, err
		}
	}
	cert, err := loadEnrolledCert(cfg.StateDir)
	if err != nil {
		return relayIdentity{}, err
	}
	id.cert = &cert
	return id, nil
}

func loadOrCreateX25519(path string) (*ecdh.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return k, certs.WriteFileAtomic(path, k.Bytes(), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("read relay HTTP key: %w", err)
	}
	k, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("relay HTTP key %s: %w", path, err)
	}
	return k, nil
}

// enrollRelay enrols a tenant's relay with its token and keeps the certificate it gets.
func enrollRelay(ctx context.Context, cfg csConfig, pool *x509.CertPool) error {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate relay key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	req := api.RelayEnrollRequest{Token: cfg.EnrollToken, ID: cfg.ID, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var resp api.RelayEnrollResponse
	if err := api.Call(ctx, httpsClient(pool), http.MethodPost, cfg.CMURL+api.PathRelayEnroll, "", req, &resp); err != nil {
		return fmt.Errorf("enroll relay %s: %w", cfg.ID, err)
	}
	if err := certs.WriteEd25519PrivateKey(filepath.Join(cfg.StateDir, relayKeyFile), key); err != nil {
		return err
	}
	return certs.WriteFileAtomic(filepath.Join(cfg.StateDir, relayCertFile), []byte(resp.Certificate), 0o600)
}

func loadEnrolledCert(dir string) (tls.Certificate, error) {
	key, err := certs.LoadEd25519PrivateKey(filepath.Join(dir, relayKeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, relayCertFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("read relay certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return tls.Certificate{}, errors.New("relay certificate: no PEM certificate in " + relayCertFile)
	}
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}, nil
}
