package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
)

// initDir runs certs.Init (P-384, for speed) with the CM and the relays on localhost, as the
// demo does, and returns the directory.
func initDir(t *testing.T, relayHosts ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := certs.Init(dir, certs.InitOptions{Algorithm: certs.AlgP384, RelayHosts: relayHosts}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveTLS serves a TLS handshake with the key pair certFile/keyFile of dir on a real listener
// and returns its address.
func serveTLS(t *testing.T, dir, certFile, keyFile string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); _ = c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr with conf and returns the handshake's error.
func handshake(t *testing.T, addr string, conf *tls.Config) error {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err == nil {
		_ = c.Close()
	}
	return err
}

// A relay's key (cs.key, on every CS) presented on the CM's address, and the CM's on a relay's
// port, are refused by a client that pins the role: through a Trust (Guests) and through
// PinRole over a CA pool (Hosts, relays' CM link), though the names match.
func TestAServerWithTheOtherRolesCertificateIsRefused(t *testing.T) {
	dir := initDir(t)
	trust, err := certs.LoadTrust(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.LoadCertPool(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cmAddr := serveTLS(t, dir, certs.CMCertFile, certs.CMKeyFile)
	csAddr := serveTLS(t, dir, certs.CSCertFile, certs.CSKeyFile)
	clients := map[string]func(certs.ServerRole) *tls.Config{
		"Trust.RoleConfig": func(r certs.ServerRole) *tls.Config { return trust.RoleConfig("localhost", r) },
		"PinRole": func(r certs.ServerRole) *tls.Config {
			return certs.PinRole(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}, r)
		},
	}
	cases := []struct {
		name    string
		addr    string
		role    certs.ServerRole
		refused bool
	}{
		{"the CM's certificate, to the CM", cmAddr, certs.RoleCM, false},
		{"the relays' certificate, to the CM (a relay posing as the CM)", csAddr, certs.RoleCM, true},
		{"the relays' certificate, to a relay", csAddr, certs.RoleRelay, false},
		{"the CM's certificate, to a relay", cmAddr, certs.RoleRelay, true},
		{"either, names only", csAddr, certs.RoleAny, false},
	}
	for client, conf := range clients {
		for _, tc := range cases {
			t.Run(client+"/"+tc.name, func(t *testing.T) {
				err := handshake(t, tc.addr, conf(tc.role))
				if tc.refused != (err != nil) {
					t.Fatalf("handshake: %v, want refused: %v", err, tc.refused)
				}
				if tc.refused && !errors.Is(err, certs.ErrServerRole) {
					t.Fatalf("refused with %v, want ErrServerRole", err)
				}
			})
		}
	}
}

// otherCA makes an operator's own CA (not "Portcullis CA") and a server certificate from it
// for localhost, named cn.
func otherCA(t *testing.T, cn string) (ca, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Corp Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(der)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{"localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err = x509.CreateCertificate(rand.Reader, lt, ca, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	return ca, leaf
}

// The verify rule: a chain anchored at a Portcullis CA must end in the role's certificate;
// any other anchor (the system roots, an operator's own CA) is judged by names only.
func TestCheckRole(t *testing.T) {
	dir := initDir(t)
	load := func(name string) *x509.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name), filepath.Join(dir, map[string]string{
			certs.CMCertFile: certs.CMKeyFile, certs.CSCertFile: certs.CSKeyFile}[name]))
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	pca, err := certs.LoadCertPool(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	chainOf := func(leaf *x509.Certificate, roots *x509.CertPool) [][]*x509.Certificate {
		chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		return chains
	}
	cm, cs := chainOf(load(certs.CMCertFile), pca), chainOf(load(certs.CSCertFile), pca)
	opCA, opLeaf := otherCA(t, "cm.example.com")
	opPool := x509.NewCertPool()
	opPool.AddCert(opCA)
	op := chainOf(opLeaf, opPool)
	cases := []struct {
		name   string
		chains [][]*x509.Certificate
		role   certs.ServerRole
		ok     bool
	}{
		{"Portcullis CA, CM leaf, CM wanted", cm, certs.RoleCM, true},
		{"Portcullis CA, relay leaf, CM wanted", cs, certs.RoleCM, false},
		{"Portcullis CA, relay leaf, relay wanted", cs, certs.RoleRelay, true},
		{"Portcullis CA, CM leaf, relay wanted", cm, certs.RoleRelay, false},
		{"Portcullis CA, any role", cs, certs.RoleAny, true},
		{"operator's CA, its own CN, CM wanted", op, certs.RoleCM, true},
		{"operator's CA, its own CN, relay wanted", op, certs.RoleRelay, true},
		{"no verified chain", nil, certs.RoleCM, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := certs.CheckRole(tc.chains, tc.role)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckRole = %v, want ok: %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, certs.ErrServerRole) {
				t.Fatalf("CheckRole = %v, want ErrServerRole", err)
			}
		})
	}
}

// --relay-host names the relays' certificate alone: cs.crt is then not valid for the CM's
// names at all, and cm.crt keeps them.
func TestInitRelayHostsSeparateTheRelaysNamesFromTheCMs(t *testing.T) {
	dir := t.TempDir()
	if err := certs.Init(dir, certs.InitOptions{Algorithm: certs.AlgP384, Hosts: []string{"cm.example.com"},
		RelayHosts: []string{"cs1.example.com", "192.0.2.7"}}); err != nil {
		t.Fatal(err)
	}
	pool, err := certs.LoadCertPool(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cert, key, name string
		valid           bool
	}{
		{certs.CMCertFile, certs.CMKeyFile, "cm.example.com", true},
		{certs.CMCertFile, certs.CMKeyFile, "cs1.example.com", false},
		{certs.CSCertFile, certs.CSKeyFile, "cm.example.com", false},
		{certs.CSCertFile, certs.CSKeyFile, "cs1.example.com", true},
		{certs.CSCertFile, certs.CSKeyFile, "192.0.2.7", true},
	}
	for _, tc := range cases {
		t.Run(tc.cert+" for "+tc.name, func(t *testing.T) {
			c, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.cert), filepath.Join(dir, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			name := tc.name
			if ip := net.ParseIP(name); ip != nil {
				name = ip.String()
			}
			_, err = c.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name})
			if tc.valid != (err == nil) {
				t.Fatalf("verify: %v, want valid: %v", err, tc.valid)
			}
		})
	}
}

// The CM refuses to start with the relays' certificate, and a relay with the CM's.
func TestCheckServerCert(t *testing.T) {
	dir := initDir(t)
	_, opLeaf := otherCA(t, "cm.example.com")
	for _, tc := range []struct {
		file string
		role certs.ServerRole
		ok   bool
	}{
		{certs.CMCertFile, certs.RoleCM, true},
		{certs.CSCertFile, certs.RoleCM, false},
		{certs.CSCertFile, certs.RoleRelay, true},
		{certs.CMCertFile, certs.RoleRelay, false},
		{"operator's", certs.RoleCM, true},
		{"operator's", certs.RoleRelay, true},
	} {
		t.Run(tc.file+" as "+string(tc.role), func(t *testing.T) {
			leaf := opLeaf
			if tc.file != "operator's" {
				key := map[string]string{certs.CMCertFile: certs.CMKeyFile, certs.CSCertFile: certs.CSKeyFile}[tc.file]
				c, err := tls.LoadX509KeyPair(filepath.Join(dir, tc.file), filepath.Join(dir, key))
				if err != nil {
					t.Fatal(err)
				}
				leaf = c.Leaf
			}
			if err := certs.CheckServerCert(leaf, tc.role); tc.ok != (err == nil) {
				t.Fatalf("CheckServerCert = %v, want ok: %v", err, tc.ok)
			}
		})
	}
}
