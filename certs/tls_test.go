package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// handshake runs a TLS handshake over an in-memory pipe and returns the client's and the
// server's errors and the server's view of the connection.
func handshake(t *testing.T, server, client *tls.Config) (clientErr, serverErr error, state tls.ConnectionState) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	srv := tls.Server(s, server)
	done := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		s.Close() // unblock a client still waiting when the server refused
		done <- err
	}()
	clientErr = tls.Client(c, client).Handshake()
	c.Close()
	serverErr = <-done
	return clientErr, serverErr, srv.ConnectionState()
}

func loadPair(t *testing.T, dir, certFile, keyFile string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatalf("LoadX509KeyPair(%s): %v", certFile, err)
	}
	return pair
}

func TestTLSHandshakeWithCMCertificate(t *testing.T) {
	dir := initP384(t)
	roots, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{loadPair(t, dir, CMCertFile, CMKeyFile)}, MinVersion: tls.VersionTLS13}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		t.Run(name, func(t *testing.T) {
			cerr, serr, _ := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS13})
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
		})
	}
	t.Run("client trusting another CA", func(t *testing.T) {
		other, err := LoadCertPool(filepath.Join(initP384(t), CAFile))
		if err != nil {
			t.Fatal(err)
		}
		cerr, _, _ := handshake(t, server, &tls.Config{RootCAs: other, ServerName: "localhost"})
		var unknown x509.UnknownAuthorityError
		if !errors.As(cerr, &unknown) {
			t.Fatalf("client error = %v, want x509.UnknownAuthorityError", cerr)
		}
	})
}

// TestMutualTLS checks which certificates a CM that requires client certificates accepts.
func TestMutualTLS(t *testing.T) {
	dir := initP384(t)
	roots, err := LoadCertPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	hostCert := hostClientCert(t, ca)
	server := &tls.Config{
		Certificates: []tls.Certificate{loadPair(t, dir, CMCertFile, CMKeyFile)},
		ClientCAs:    roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	tests := []struct {
		name   string
		client tls.Certificate
		cn     string // "" means the server refuses
	}{
		{"a relay's own certificate", relayClientCert(t, ca, "cs-eu-1"), "relay:cs-eu-1"},
		{"the relays' shared TLS certificate lacks client auth", loadPair(t, dir, CSCertFile, CSKeyFile), ""},
		{"host certificate from IssueClientCert", hostCert, "host-42"},
		{"CM certificate lacks client auth", loadPair(t, dir, CMCertFile, CMKeyFile), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{tt.client}}
			cerr, serr, state := handshake(t, server, client)
			if tt.cn == "" {
				if serr == nil {
					t.Fatal("server accepted a client certificate without ExtKeyUsageClientAuth")
				}
				return
			}
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
			if got := state.PeerCertificates[0].Subject.CommonName; got != tt.cn {
				t.Fatalf("server saw client CN %q, want %q", got, tt.cn)
			}
		})
	}
}

// hostClientCert issues a client certificate for a fresh Ed25519 host key.
func hostClientCert(t *testing.T, ca *CA) tls.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueClientCert(pub, "host-42", time.Hour)
	if err != nil {
		t.Fatalf("IssueClientCert: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

func TestIssueClientCert(t *testing.T) {
	dir := initP384(t)
	ca, err := LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ttl time.Duration) *x509.Certificate {
		t.Helper()
		der, err := ca.IssueClientCert(key.Public(), "host-7", ttl)
		if err != nil {
			t.Fatalf("IssueClientCert: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	a, b := issue(time.Hour), issue(time.Hour)
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Fatal("two client certificates share a serial number")
	}
	if a.Subject.CommonName != "host-7" || len(a.ExtKeyUsage) != 1 || a.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || a.IsCA {
		t.Fatalf("CN %q EKU %v IsCA %v", a.Subject.CommonName, a.ExtKeyUsage, a.IsCA)
	}
	if life := a.NotAfter.Sub(a.NotBefore); life != time.Hour+BackdateCertificates {
		t.Fatalf("validity %s, want %s", life, time.Hour+BackdateCertificates)
	}
	if long := issue(100 * DefaultValidity); !long.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("NotAfter %s outlives the CA's %s", long.NotAfter, ca.Cert.NotAfter)
	}
	refusals := []struct {
		name string
		cn   string
		ttl  time.Duration
	}{
		{"zero ttl", "h", 0},
		{"negative ttl", "h", -time.Second},
		{"empty common name", "", time.Hour},
	}
	for _, r := range refusals {
		if _, err := ca.IssueClientCert(key.Public(), r.cn, r.ttl); err == nil {
			t.Errorf("%s: IssueClientCert succeeded", r.name)
		}
	}
}

func TestLoadCARefusals(t *testing.T) {
	dir := initP384(t)
	other := initP384(t)
	tests := []struct {
		name      string
		cert, key string
	}{
		{"leaf certificate", filepath.Join(dir, CMCertFile), filepath.Join(dir, CMKeyFile)},
		{"key of another CA", filepath.Join(dir, CAFile), filepath.Join(other, CAKeyFile)},
		{"key file is a certificate", filepath.Join(dir, CAFile), filepath.Join(dir, CAFile)},
		{"missing key", filepath.Join(dir, CAFile), filepath.Join(dir, "nope.key")},
		{"certificate file is a key", filepath.Join(dir, CAKeyFile), filepath.Join(dir, CAKeyFile)},
		{"ed25519 ticket key is not a CA key", filepath.Join(dir, CAFile), filepath.Join(dir, TicketKeyFile)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ca, err := LoadCA(tt.cert, tt.key); err == nil {
				t.Fatalf("LoadCA succeeded: %+v", ca.Cert.Subject)
			}
		})
	}
}

// relayClientCert issues vendor relay id's client certificate for a fresh Ed25519 key.
func relayClientCert(t *testing.T, ca *CA, id string) tls.Certificate {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueRelayCert(pub, id, time.Hour)
	if err != nil {
		t.Fatalf("IssueRelayCert: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}
