package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// initP384 runs Init with P-384 keys (fast) into a fresh directory and returns it.
func initP384(t *testing.T, hosts ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := Init(dir, InitOptions{Algorithm: AlgP384, Hosts: hosts}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return dir
}

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, err := loadCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestInitWritesEveryFileWithItsMode(t *testing.T) {
	dir := initP384(t)
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != DirMode {
		t.Fatalf("dir mode = %v, %v; want %v", info.Mode().Perm(), err, DirMode)
	}
	private := []string{CAKeyFile, CMKeyFile, CSKeyFile, TicketKeyFile, SSHUserCAFile, LogKeyFile}
	for _, name := range allFiles() {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := PublicFileMode
		if slices.Contains(private, name) {
			want = PrivateKeyMode
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", name, info.Mode().Perm(), want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != len(allFiles()) {
		t.Fatalf("dir holds %d entries (%v), want exactly the %d key files", len(entries), err, len(allFiles()))
	}
}

func TestInitCertificates(t *testing.T) {
	dir := initP384(t, "cm.example.com", "10.0.0.7")
	ca := mustCert(t, filepath.Join(dir, CAFile))
	if !ca.IsCA || ca.Subject.CommonName != CACommonName {
		t.Fatalf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
	}
	roots, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		cn   string
		ekus []x509.ExtKeyUsage
	}{
		{CMCertFile, CMCommonName, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		{CSCertFile, CSCommonName, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cert := mustCert(t, filepath.Join(dir, tt.file))
			if cert.Subject.CommonName != tt.cn || !slices.Equal(cert.ExtKeyUsage, tt.ekus) {
				t.Fatalf("CN %q EKU %v, want %q %v", cert.Subject.CommonName, cert.ExtKeyUsage, tt.cn, tt.ekus)
			}
			pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
			if !ok || pub.Curve != elliptic.P384() {
				t.Fatalf("public key %T, want ECDSA P-384", cert.PublicKey)
			}
			if cert.IsCA || cert.SerialNumber.Sign() <= 0 {
				t.Fatalf("leaf IsCA=%v serial=%v", cert.IsCA, cert.SerialNumber)
			}
			for _, name := range []string{"cm.example.com", "10.0.0.7"} {
				if err := cert.VerifyHostname(name); err != nil {
					t.Errorf("SAN %s: %v", name, err)
				}
			}
			if err := cert.VerifyHostname("localhost"); err == nil {
				t.Error("certificate is valid for localhost, which was not asked for")
			}
			for _, eku := range tt.ekus {
				opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}}
				if _, err := cert.Verify(opts); err != nil {
					t.Errorf("chain for %v: %v", eku, err)
				}
			}
		})
	}
}

func TestInitDefaultHostsAndValidity(t *testing.T) {
	dir := initP384(t)
	cm := mustCert(t, filepath.Join(dir, CMCertFile))
	if !slices.Equal(cm.DNSNames, []string{"localhost"}) || len(cm.IPAddresses) != 2 ||
		!cm.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !cm.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Fatalf("default SANs: DNS %v IP %v", cm.DNSNames, cm.IPAddresses)
	}
	life := cm.NotAfter.Sub(cm.NotBefore)
	if life < DefaultValidity || life > DefaultValidity+BackdateCertificates+time.Minute {
		t.Fatalf("validity %s, want about %s", life, DefaultValidity)
	}
}

// TestInitDefaultIsRSA4096 is the one test that pays for RSA key generation.
func TestInitDefaultIsRSA4096(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, InitOptions{}); err != nil {
		t.Fatalf("Init: %v", err)
	}
	for _, name := range []string{CAFile, CMCertFile, CSCertFile} {
		pub, ok := mustCert(t, filepath.Join(dir, name)).PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() != 4096 {
			t.Fatalf("%s: want an RSA 4096 key", name)
		}
	}
	ca, err := LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if _, ok := ca.Key.(*rsa.PrivateKey); !ok {
		t.Fatalf("CA key is %T, want *rsa.PrivateKey", ca.Key)
	}
}

func TestInitRefusesExistingFiles(t *testing.T) {
	dir := initP384(t)
	caPath := filepath.Join(dir, CAFile)
	before, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	err = Init(dir, InitOptions{Algorithm: AlgP384})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Init = %v, want ErrExists naming a file in %s", err, dir)
	}
	if after, _ := os.ReadFile(caPath); !bytes.Equal(before, after) {
		t.Fatal("a refused Init changed ca.crt")
	}
	if err := Init(dir, InitOptions{Algorithm: AlgP384, Force: true}); err != nil {
		t.Fatalf("Init with Force: %v", err)
	}
	if after, _ := os.ReadFile(caPath); bytes.Equal(before, after) {
		t.Fatal("Init with Force left ca.crt unchanged")
	}
}

func TestInitRefusesAnySingleExistingFile(t *testing.T) {
	for _, name := range allFiles() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := Init(dir, InitOptions{Algorithm: AlgP384})
			if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Init = %v, want ErrExists naming %s", err, path)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("a refused Init wrote %d files", len(entries)-1)
			}
		})
	}
}

func TestInitOptionRefusals(t *testing.T) {
	tests := []struct {
		name string
		opts InitOptions
		want string
	}{
		{"unknown algorithm", InitOptions{Algorithm: "dsa"}, "unknown algorithm"},
		{"negative validity", InitOptions{Algorithm: AlgP384, Validity: -time.Hour}, "negative validity"},
		{"empty host", InitOptions{Algorithm: AlgP384, Hosts: []string{"ok", ""}}, "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			err := Init(dir, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Init = %v, want an error containing %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("refused options still created %s", dir)
			}
		})
	}
}
