package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// checkRelayCert checks that dir holds vendor relay id's client certificate and key: CN
// relay:<id>, the vendor mark, client authentication only, chaining to the CA in dir, private
// key mode 0600, and a key of the wanted type.
func checkRelayCert(t *testing.T, dir, id string, wantRSA bool) {
	t.Helper()
	cert := mustCert(t, filepath.Join(dir, RelayCertFile(id)))
	if got, ok := RelayIDOf(cert); !ok || got != id || !IsVendorRelay(cert) {
		t.Fatalf("subject %v: relay %q (%v), vendor %v; want vendor relay %s", cert.Subject, got, ok, IsVendorRelay(cert), id)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(cert.DNSNames)+len(cert.IPAddresses) != 0 {
		t.Fatalf("EKU %v, SANs %v %v; want a client certificate only", cert.ExtKeyUsage, cert.DNSNames, cert.IPAddresses)
	}
	roots, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client chain: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Fatal("a relay's client certificate also serves TLS")
	}
	if info, err := os.Stat(filepath.Join(dir, RelayKeyFile(id))); err != nil || info.Mode().Perm() != PrivateKeyMode {
		t.Fatalf("key file: %v, %v; want mode %v", info, err, PrivateKeyMode)
	}
	key, err := loadPrivateKey(filepath.Join(dir, RelayKeyFile(id)))
	if err != nil {
		t.Fatal(err)
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA != wantRSA {
		t.Fatalf("relay key %T, want RSA %v", key, wantRSA)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		t.Fatal("the key does not match the certificate")
	}
}

func TestInitIssuesEachNamedRelayItsOwnCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := Init(dir, InitOptions{Algorithm: AlgP384, Relays: []string{"cs-eu-1", "cs-us-1"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cs-eu-1", "cs-us-1"} {
		checkRelayCert(t, dir, id, false)
	}
	if a, b := mustCert(t, filepath.Join(dir, RelayCertFile("cs-eu-1"))), mustCert(t, filepath.Join(dir, RelayCertFile("cs-us-1"))); bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo) {
		t.Fatal("two relays share a key")
	}
	// A relay file that exists stops Init, as any of its files does.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, RelayKeyFile("cs-us-1")), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Init(other, InitOptions{Algorithm: AlgP384, Relays: []string{"cs-us-1"}}); !errors.Is(err, ErrExists) {
		t.Fatalf("Init over an existing relay key = %v, want ErrExists", err)
	}
}

func TestIssueRelay(t *testing.T) {
	tests := []struct {
		name string
		// prepare makes the directory; it returns it.
		prepare func(t *testing.T) string
		id      string
		opts    RelayOptions
		wantRSA bool
		err     error  // with says: the failure
		says    string // "" means success
	}{
		{"the CA's algorithm by default", func(t *testing.T) string { return initP384(t) }, "cs-eu-1", RelayOptions{}, false, nil, ""},
		{"another algorithm than the CA's", func(t *testing.T) string { return initP384(t) }, "cs-eu-1", RelayOptions{Algorithm: AlgRSA4096}, true, nil, ""},
		{"an existing relay is kept", func(t *testing.T) string {
			dir := initP384(t)
			if err := IssueRelay(dir, "cs-eu-1", RelayOptions{}); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "cs-eu-1", RelayOptions{}, false, ErrExists, "relay-cs-eu-1.crt"},
		{"an existing relay is replaced with Force", func(t *testing.T) string {
			dir := initP384(t)
			if err := IssueRelay(dir, "cs-eu-1", RelayOptions{}); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "cs-eu-1", RelayOptions{Force: true}, false, nil, ""},
		{"no CA in the directory", func(t *testing.T) string { return t.TempDir() }, "cs-eu-1", RelayOptions{}, false, nil, "ca.crt"},
		{"an id that is no relay id", func(t *testing.T) string { return initP384(t) }, "../cs", RelayOptions{}, false, nil, "must be 1 to 64 lower-case"},
		{"an upper-case id", func(t *testing.T) string { return initP384(t) }, "CS-1", RelayOptions{}, false, nil, "must be 1 to 64 lower-case"},
		{"negative validity", func(t *testing.T) string { return initP384(t) }, "cs-eu-1", RelayOptions{Validity: -time.Hour}, false, nil, "negative validity"},
		{"an unknown algorithm", func(t *testing.T) string { return initP384(t) }, "cs-eu-1", RelayOptions{Algorithm: "dsa"}, false, nil, "unknown algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.prepare(t)
			before, _ := os.ReadFile(filepath.Join(dir, RelayCertFile(tt.id)))
			err := IssueRelay(dir, tt.id, tt.opts)
			if tt.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				checkRelayCert(t, dir, tt.id, tt.wantRSA)
				if after, _ := os.ReadFile(filepath.Join(dir, RelayCertFile(tt.id))); bytes.Equal(before, after) {
					t.Fatal("the certificate was not (re)issued")
				}
				return
			}
			if err == nil || tt.err != nil && !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("IssueRelay = %v, want an error (%v) saying %q", err, tt.err, tt.says)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, RelayCertFile(tt.id))); !bytes.Equal(before, after) {
				t.Fatal("a refused IssueRelay changed the relay's certificate")
			}
		})
	}
}

func TestRelayIDOfAndTheVendorMark(t *testing.T) {
	dir := initP384(t)
	ca, err := LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(der []byte, err error) *x509.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		cert   *x509.Certificate
		id     string // "" means no relay
		vendor bool
	}{
		{"a vendor relay", issue(ca.IssueRelayCert(key.Public(), "cs-eu-1", time.Hour)), "cs-eu-1", true},
		{"an enrolled relay (the CM's certificate, unmarked)", issue(ca.IssueClientCert(key.Public(), "relay:cs-globex-1", time.Hour)), "cs-globex-1", false},
		{"the shared TLS certificate", mustCert(t, filepath.Join(dir, CSCertFile)), "", false},
		{"a host", issue(ca.IssueClientCert(key.Public(), "host:h_1", time.Hour)), "", false},
		{"an empty relay id", issue(ca.IssueClientCert(key.Public(), "relay:", time.Hour)), "", false},
		{"no certificate", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := RelayIDOf(tt.cert)
			if id != tt.id || ok != (tt.id != "") || IsVendorRelay(tt.cert) != tt.vendor {
				t.Fatalf("RelayIDOf = %q, %v; IsVendorRelay = %v; want %q, vendor %v", id, ok, IsVendorRelay(tt.cert), tt.id, tt.vendor)
			}
		})
	}
	if _, err := ca.IssueRelayCert(key.Public(), "Bad Id", time.Hour); err == nil {
		t.Fatal("IssueRelayCert signed a certificate for an invalid relay id")
	}
}
