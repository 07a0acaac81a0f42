package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Trust is what a client trusts in a server's certificate: the certificates of a CA file
// besides the system roots. Unlike a pool made of x509.SystemCertPool plus the file, it
// reads the system roots only for a chain the file's certificates do not verify: loading
// them reads and parses every file of the system's certificate directories, which costs a
// short-lived command (portcullis exec) more than its whole TLS handshake.
type Trust struct {
	file *x509.CertPool // the CA file's certificates
}

// LoadTrust reads the PEM certificates of caFile. A file without one is an error.
func LoadTrust(caFile string) (*Trust, error) {
	pool, err := LoadCertPool(caFile)
	if err != nil {
		return nil, err
	}
	return &Trust{file: pool}, nil
}

// ClientConfig returns a TLS client configuration that accepts only a server whose chain
// verifies for serverName (a DNS name or an IP address, as tls.Config.ServerName) against
// the CA file's certificates or, failing that, against the system roots. It verifies in
// VerifyConnection what crypto/tls verifies by default (so InsecureSkipVerify only hands the
// check over to it), and refuses a connection to any other server name: the configuration
// belongs to serverName alone (clones included).
func (t *Trust) ClientConfig(serverName string) *tls.Config {
	return t.RoleConfig(serverName, RoleAny)
}

// RoleConfig is ClientConfig for a server of role: a chain anchored at a Portcullis CA must
// end in role's certificate too (see ServerRole), so that a relay's key cannot pass for the
// CM, nor the CM's for a relay.
func (t *Trust) RoleConfig(serverName string, role ServerRole) *tls.Config {
	return &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection, which every handshake runs
		VerifyConnection:   func(cs tls.ConnectionState) error { return t.verify(cs, serverName, role) },
	}
}

// ErrServerName reports a configuration used for a server name other than its own.
var ErrServerName = errors.New("certs: TLS configuration used for another server name")

// verify checks the server's chain for serverName, as crypto/tls does with RootCAs set to the
// CA file's certificates plus the system roots, and then role (CheckRole).
func (t *Trust) verify(cs tls.ConnectionState, serverName string, role ServerRole) error {
	if serverName == "" {
		return errors.New("certs: no server name to verify the server's certificate for")
	}
	if cs.ServerName != "" && cs.ServerName != sniName(serverName) {
		return fmt.Errorf("%w: made for %q, used for %q", ErrServerName, serverName, cs.ServerName)
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: the server presented no certificate")
	}
	opts := x509.VerifyOptions{Roots: t.file, DNSName: serverName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	leaf := cs.PeerCertificates[0]
	chains, fileErr := leaf.Verify(opts)
	if fileErr == nil {
		return CheckRole(chains, role)
	}
	opts.Roots = nil // the system roots (the platform's verifier on macOS and Windows)
	chains, err := leaf.Verify(opts)
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates,
			Err: fmt.Errorf("not by the CA file (%w), nor by the system roots (%w)", fileErr, err)}
	}
	return CheckRole(chains, role)
}

// sniName is the server name crypto/tls sends (and reports in ConnectionState) for name:
// none for an IP address, no trailing dot otherwise.
func sniName(name string) string {
	host := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if i := strings.LastIndex(host, "%"); i > 0 {
		host = host[:i]
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	return strings.TrimRight(name, ".")
}
