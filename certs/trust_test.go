package certs

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed CA certificate for 127.0.0.1, valid from notBefore to
// notAfter, to a file of dir, and returns the file and the server's certificate.
func selfSigned(t *testing.T, dir string, notBefore, notAfter time.Time) (string, tls.Certificate) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trust-test"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "self-signed.crt")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

func TestTrustVerifiesAsDefaultTLSDoes(t *testing.T) {
	dir := initP384(t)
	other := initP384(t)
	trust, err := LoadTrust(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cm := &tls.Config{Certificates: []tls.Certificate{loadPair(t, dir, CMCertFile, CMKeyFile)}, MinVersion: tls.VersionTLS12}
	stranger := &tls.Config{Certificates: []tls.Certificate{loadPair(t, other, CMCertFile, CMKeyFile)}, MinVersion: tls.VersionTLS12}
	expiredFile, expiredCert := selfSigned(t, t.TempDir(), time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	expiredTrust, err := LoadTrust(expiredFile)
	if err != nil {
		t.Fatal(err)
	}
	expired := &tls.Config{Certificates: []tls.Certificate{expiredCert}, MinVersion: tls.VersionTLS12}
	reused := trust.ClientConfig("localhost")
	reused.ServerName = "cm.example.org" // a clone's name changed: the check stays for localhost
	tests := []struct {
		name    string
		server  *tls.Config
		client  *tls.Config
		wantErr string // "" means the handshake succeeds
	}{
		{"CA file, DNS name", cm, trust.ClientConfig("localhost"), ""},
		{"CA file, IP address", cm, trust.ClientConfig("127.0.0.1"), ""},
		{"name the certificate lacks", cm, trust.ClientConfig("cm.example.org"), "cm.example.org"},
		{"IP address the certificate lacks", cm, trust.ClientConfig("127.0.0.2"), "127.0.0.2"},
		{"another CA, in no root", stranger, trust.ClientConfig("localhost"), "nor by the system roots"},
		{"expired certificate of the CA file", expired, expiredTrust.ClientConfig("127.0.0.1"), "expired"},
		{"no server name", cm, trust.ClientConfig(""), "no server name"},
		{"configuration used for another name", cm, reused, "another server name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr, _, _ := handshake(t, tt.server, tt.client)
			if tt.wantErr == "" {
				if cerr != nil {
					t.Fatalf("handshake: %v", cerr)
				}
				return
			}
			if cerr == nil || !strings.Contains(cerr.Error(), tt.wantErr) {
				t.Fatalf("handshake error = %v; want one naming %q", cerr, tt.wantErr)
			}
			var unknown x509.UnknownAuthorityError
			if tt.server == stranger && !errors.As(cerr, &unknown) {
				t.Fatalf("handshake error = %v; want an x509.UnknownAuthorityError (the CLI's --ca-file hint looks for it)", cerr)
			}
		})
	}
}

func TestTrustMatchesTheDefaultVerifier(t *testing.T) {
	dir := initP384(t)
	trust, err := LoadTrust(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cm := &tls.Config{Certificates: []tls.Certificate{loadPair(t, dir, CMCertFile, CMKeyFile)}, MinVersion: tls.VersionTLS12}
	for _, name := range []string{"localhost", "127.0.0.1", "cm.example.org", "127.0.0.9"} {
		t.Run(name, func(t *testing.T) {
			lazy, _, _ := handshake(t, cm, trust.ClientConfig(name))
			def, _, _ := handshake(t, cm, &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
			if (lazy == nil) != (def == nil) {
				t.Fatalf("Trust: %v; crypto/tls with the CA file as RootCAs: %v", lazy, def)
			}
		})
	}
}

func TestLoadTrustRefusals(t *testing.T) {
	dir := initP384(t)
	for name, file := range map[string]string{
		"missing file":   filepath.Join(dir, "nope.crt"),
		"a key, no cert": filepath.Join(dir, CAKeyFile),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadTrust(file); err == nil {
				t.Fatal("LoadTrust succeeded")
			}
		})
	}
}

func TestSNIName(t *testing.T) {
	for in, want := range map[string]string{
		"localhost":    "localhost",
		"cm.example.":  "cm.example",
		"127.0.0.1":    "",
		"[::1]":        "",
		"fe80::1%eth0": "",
	} {
		if got := sniName(in); got != want {
			t.Errorf("sniName(%q) = %q; want %q", in, got, want)
		}
	}
}
