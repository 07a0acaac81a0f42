package certs

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"golang.org/x/crypto/ssh"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemPrivateKey   = "PRIVATE KEY"
	pemPublicKey    = "PUBLIC KEY"
	pemRSAPrivate   = "RSA PRIVATE KEY"
	pemECPrivateKey = "EC PRIVATE KEY"
)

// EncodeCertPEM returns the PEM encoding of a DER certificate.
func EncodeCertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// LoadCertPool returns a pool of the certificates in a PEM file (the CA to trust).
func LoadCertPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("certs: %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// LoadEd25519PrivateKey reads an Ed25519 private key from a PKCS#8 PEM file.
func LoadEd25519PrivateKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path, pemPrivateKey)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("certs: %s holds a %T, want an Ed25519 key", path, key)
	}
	return ed, nil
}

// LoadEd25519PublicKey reads an Ed25519 public key from a PKIX PEM file (ticket.pub).
func LoadEd25519PublicKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path, pemPublicKey)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	ed, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certs: %s holds a %T, want an Ed25519 key", path, key)
	}
	return ed, nil
}

// WriteEd25519PrivateKey writes key as PKCS#8 PEM with mode 0600, atomically.
func WriteEd25519PrivateKey(path string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("certs: Ed25519 private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	data, err := encodePrivateKeyPEM(key)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, PrivateKeyMode)
}

// LoadSSHSigner reads an SSH private key (OpenSSH PEM, unencrypted) as a signer.
func LoadSSHSigner(path string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	return signer, nil
}

// encodePrivateKeyPEM encodes a private key as PKCS#8 PEM.
func encodePrivateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// readPEM reads the first PEM block of a file and checks its type against the allowed ones.
func readPEM(path string, types ...string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("certs: %s holds no PEM block", path)
	}
	for _, t := range types {
		if block.Type == t {
			return block, nil
		}
	}
	return nil, fmt.Errorf("certs: %s holds a %q PEM block, want one of %q", path, block.Type, types)
}

// loadCert reads one PEM certificate.
func loadCert(path string) (*x509.Certificate, error) {
	block, err := readPEM(path, pemCertificate)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	return cert, nil
}

// loadPrivateKey reads a PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) PEM private key that can sign.
func loadPrivateKey(path string) (crypto.Signer, error) {
	block, err := readPEM(path, pemPrivateKey, pemRSAPrivate, pemECPrivateKey)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case pemRSAPrivate:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemECPrivateKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certs: %s holds a %T, which cannot sign", path, key)
	}
	return signer, nil
}
