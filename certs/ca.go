package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CA is an X.509 certificate authority: the certificate and the key that signs with it.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA private key.
	Key crypto.Signer
}

// LoadCA reads a CA certificate (PEM) and its private key (PKCS#8, PKCS#1 or SEC 1 PEM) and
// checks that the certificate is a CA and that the key matches it.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cert, err := loadCert(certFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certs: %s is not a CA certificate", certFile)
	}
	key, err := loadPrivateKey(keyFile)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("certs: key %s does not match certificate %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// IssueClientCert signs a client certificate (ExtKeyUsageClientAuth) for pub with the given
// CN, valid from shortly before now for ttl (but never beyond the CA's own expiry), with a
// random serial. It returns the certificate in DER.
func (ca *CA) IssueClientCert(pub crypto.PublicKey, commonName string, ttl time.Duration) ([]byte, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("certs: client certificate ttl %s is not positive", ttl)
	}
	if commonName == "" {
		return nil, errors.New("certs: client certificate needs a common name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, pub, ttl)
}

// issue completes a leaf template (serial, validity, key usage) and signs it.
func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey, ttl time.Duration) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-BackdateCertificates)
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// randomSerial returns a random positive certificate serial number of serialBits bits.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), serialBits))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
