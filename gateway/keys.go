package gateway

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"

	"github.com/portcullis/portcullis/translog"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/ticket"
)

// Keys is a CM's key material, as `portcullis certs init` writes it to a certs directory.
type Keys struct {
	// TLS serves the CM's HTTPS API: its certificate, and client certificates (Hosts, relays,
	// Guests) verified against the CA when given.
	TLS *tls.Config
	// Pool holds the CA certificate, for clients of the CM.
	Pool *x509.CertPool
	// CA signs Hosts', relays' and Guests' client certificates.
	CA *certs.CA
	// TicketSigner mints session tickets; TicketKeys publishes its public key.
	TicketSigner *ticket.Signer
	TicketKeys   *ticket.KeySet
	// SSHUserCA signs Guests' per-session SSH certificates.
	SSHUserCA ssh.Signer
	// LogSigner signs the decision records and the decision log's checkpoints.
	LogSigner *translog.Signer
}

// LoadKeys reads a CM's key material from dir.
func LoadKeys(dir string) (*Keys, error) {
	p := func(name string) string { return filepath.Join(dir, name) }
	ca, err := certs.LoadCA(p(certs.CAFile), p(certs.CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	pool, err := certs.LoadCertPool(p(certs.CAFile))
	if err != nil {
		return nil, err
	}
	serverCert, err := tls.LoadX509KeyPair(p(certs.CMCertFile), p(certs.CMKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load CM TLS certificate: %w", err)
	}
	tk, err := certs.LoadEd25519PrivateKey(p(certs.TicketKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load ticket key: %w", err)
	}
	sshCA, err := certs.LoadSSHSigner(p(certs.SSHUserCAFile))
	if err != nil {
		return nil, fmt.Errorf("load SSH user CA: %w", err)
	}
	logSigner, err := translog.LoadSigner(p(certs.LogKeyFile), p(certs.LogPubFile))
	if err != nil {
		return nil, fmt.Errorf("load the decision log key: %w", err)
	}
	pub := tk.Public().(ed25519.PublicKey)
	kid := ticket.KeyID(pub)
	return &Keys{
		TLS: &tls.Config{
			Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, RootCAs: pool,
			ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12,
		},
		Pool:         pool,
		CA:           ca,
		TicketSigner: &ticket.Signer{KeyID: kid, Key: tk},
		TicketKeys:   ticket.NewKeySet(map[string]ed25519.PublicKey{kid: pub}),
		SSHUserCA:    sshCA,
		LogSigner:    logSigner,
	}, nil
}

// Configure puts the keys into cfg: its ticket signer and keys, SSH user CA, CA and log signer.
func (k *Keys) Configure(cfg *Config) {
	cfg.TicketSigner, cfg.TicketKeys, cfg.SSHUserCA, cfg.CA = k.TicketSigner, k.TicketKeys, k.SSHUserCA, k.CA
	cfg.LogSigner = k.LogSigner
}
