package cmlink

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

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/atomicfile"
)

// Files a relay keeps in its state directory, each of mode 0600.
const (
	// KeyFile is an enrolled relay's Ed25519 client key.
	KeyFile = "relay.key"
	// CertFile is an enrolled relay's client certificate (PEM), CN "relay:<id>".
	CertFile = "relay.crt"
)

// Identity is what a relay proves itself with: the key of its HTTP fallback, and the client
// certificate that names it to the CM ("relay:<id>").
type Identity struct {
	// Cert is the relay's client certificate to the CM: a vendor relay's own (CertFile), or the
	// one a tenant's relay got when it enrolled.
	Cert tls.Certificate
	// Enrolled is set for a tenant's enrolled relay.
	Enrolled bool
}

// IdentityConfig says where a relay keeps its identity and how it enrols.
type IdentityConfig struct {
	// StateDir keeps the HTTP fallback key and an enrolled relay's key and certificate (mode
	// 0700); "" means a fresh HTTP key on every start and no enrollment.
	StateDir string
	// EnrollToken is a tenant relay's enrollment token, used once: when StateDir holds no
	// certificate yet. "" means a vendor relay.
	EnrollToken string
	// RelayID is the relay's id (the audience of its tickets), which its certificate must name.
	// Required.
	RelayID string
	// CertFile and KeyFile are a vendor relay's own client certificate and key (PEM), as
	// `portcullis certs relay` writes them; a tenant's relay, which enrols, needs none.
	CertFile, KeyFile string
	// CMURL is the CM's base URL.
	CMURL string
	// Client reaches the CM to enrol; it needs no client certificate.
	Client *http.Client
}

// LoadIdentity loads (or creates) the keys in cfg.StateDir, first enrolling the relay with the
// CM when it has a token and no certificate yet; a relay that is not enrolled is a vendor
// relay and loads its own certificate from cfg.CertFile. Without a state directory the HTTP
// key is fresh. It fails when the certificate does not name cfg.RelayID.
func LoadIdentity(ctx context.Context, cfg IdentityConfig) (Identity, error) {
	if err := certs.CheckRelayID(cfg.RelayID); err != nil {
		return Identity{}, fmt.Errorf("cmlink: %w", err)
	}
	var id Identity
	var err error
	if cfg.StateDir == "" {
		if cfg.EnrollToken != "" {
			return Identity{}, errors.New("cmlink: a relay that enrols needs a state directory to keep its identity")
		}
		id.Cert, err = loadVendorCert(cfg)
		return id, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("cmlink: state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, CertFile)); errors.Is(err, os.ErrNotExist) {
		if cfg.EnrollToken == "" {
			id.Cert, err = loadVendorCert(cfg)
			return id, err
		}
		if err := enroll(ctx, cfg); err != nil {
			return Identity{}, err
		}
	}
	if id.Cert, err = loadEnrolledCert(cfg.StateDir); err != nil {
		return Identity{}, err
	}
	if err := namesRelay(id.Cert, cfg.RelayID, filepath.Join(cfg.StateDir, CertFile)); err != nil {
		return Identity{}, err
	}
	id.Enrolled = true
	return id, nil
}

// loadVendorCert loads a vendor relay's own client certificate and checks that it names the
// relay.
func loadVendorCert(cfg IdentityConfig) (tls.Certificate, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return tls.Certificate{}, fmt.Errorf("cmlink: relay %s has no client certificate: a vendor relay needs its own "+
			"(portcullis certs relay --id %s), a tenant's relay an enrollment token", cfg.RelayID, cfg.RelayID)
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cmlink: relay %s's client certificate (issue one with portcullis certs relay --id %s): %w",
			cfg.RelayID, cfg.RelayID, err)
	}
	return cert, namesRelay(cert, cfg.RelayID, cfg.CertFile)
}

// namesRelay returns an error unless cert (read from file) names relay id.
func namesRelay(cert tls.Certificate, id, file string) error {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("cmlink: %s: %w", file, err)
		}
	}
	got, ok := certs.RelayIDOf(leaf)
	switch {
	case ok && got == id:
		return nil
	case leaf.Subject.CommonName == certs.CSCommonName:
		return fmt.Errorf("cmlink: %s is the relays' old shared certificate (%s), which names no relay and which the CM refuses: "+
			"issue relay %s its own with portcullis certs relay --id %s", file, certs.CSCommonName, id, id)
	case ok:
		return fmt.Errorf("cmlink: %s is relay %s's certificate, not relay %s's", file, got, id)
	}
	return fmt.Errorf("cmlink: %s names %q, not a relay (want %q)", file, leaf.Subject.CommonName, certs.RelayCommonName(id))
}

// enroll enrols a tenant's relay with its token and keeps the key and the certificate it gets;
// an answer without a certificate keeps nothing.
func enroll(ctx context.Context, cfg IdentityConfig) error {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("cmlink: generate relay key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("cmlink: relay key: %w", err)
	}
	req := api.RelayEnrollRequest{Token: cfg.EnrollToken, ID: cfg.RelayID, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var resp api.RelayEnrollResponse
	if err := api.Call(ctx, cfg.Client, http.MethodPost, cfg.CMURL+api.PathRelayEnroll, "", req, &resp); err != nil {
		return fmt.Errorf("cmlink: enroll relay %s: %w", cfg.RelayID, err)
	}
	if _, err := parseCertPEM([]byte(resp.Certificate)); err != nil {
		return fmt.Errorf("cmlink: enroll relay %s: the CM's answer: %w", cfg.RelayID, err)
	}
	if err := certs.WriteEd25519PrivateKey(filepath.Join(cfg.StateDir, KeyFile), key); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(cfg.StateDir, CertFile), []byte(resp.Certificate), 0o600)
}

// loadEnrolledCert reads an enrolled relay's key and certificate from dir.
func loadEnrolledCert(dir string) (tls.Certificate, error) {
	key, err := certs.LoadEd25519PrivateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cmlink: read relay certificate: %w", err)
	}
	der, err := parseCertPEM(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cmlink: relay certificate %s: %w", CertFile, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// parseCertPEM returns the DER of the one X.509 certificate in PEM text.
func parseCertPEM(text []byte) ([]byte, error) {
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	return block.Bytes, nil
}
