package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ServerRole is the kind of Portcullis server a TLS client means to reach. The CM and the
// relays may share names (localhost in a demo, a host running both) and the relays' shared
// key (CSKeyFile) sits on every Connection Server, so a client does not let a name alone
// decide: a certificate that chains to a Portcullis CA must also carry its role's common name.
//
// The rule, for each chain that verified (chain and name as crypto/tls checks them):
//   - anchored at a Portcullis CA (subject CN CACommonName, the CA Init makes): the leaf's
//     CN must be the role's (CMCommonName, CSCommonName);
//   - anchored anywhere else (the system roots, an operator's own CA): names only, as
//     before; such a CA never saw the relays' shared key.
type ServerRole string

// The server roles a client pins.
const (
	// RoleAny checks names only (an identity provider, a server outside Portcullis).
	RoleAny ServerRole = ""
	// RoleCM is the Connection Manager: a Portcullis CA's leaf must be CMCommonName.
	RoleCM ServerRole = "cm"
	// RoleRelay is a Connection Server's TLS port: a Portcullis CA's leaf must be CSCommonName.
	RoleRelay ServerRole = "relay"
)

// ErrServerRole reports a server certificate, issued by a Portcullis CA, for another role: a
// relay's certificate on the CM's address, or the CM's on a relay's.
var ErrServerRole = errors.New("certs: the server's certificate is for another Portcullis role")

// commonName is the CN a Portcullis CA gives role's certificate; "" for RoleAny.
func (r ServerRole) commonName() string {
	switch r {
	case RoleCM:
		return CMCommonName
	case RoleRelay:
		return CSCommonName
	}
	return ""
}

// IsPortcullisCA reports whether ca is a CA certificate that Init made (subject CN
// CACommonName).
func IsPortcullisCA(ca *x509.Certificate) bool {
	return ca != nil && ca.IsCA && ca.Subject.CommonName == CACommonName
}

// CheckRole applies the ServerRole rule to verified chains (leaf first, root last): it
// returns ErrServerRole when a chain ends at a Portcullis CA and its leaf is not role's.
func CheckRole(chains [][]*x509.Certificate, role ServerRole) error {
	want := role.commonName()
	if want == "" {
		return nil
	}
	for _, chain := range chains {
		if len(chain) == 0 || !IsPortcullisCA(chain[len(chain)-1]) {
			continue
		}
		if got := chain[0].Subject.CommonName; got != want {
			return fmt.Errorf("%w: want a %s certificate (CN %q), got CN %q issued by %q", ErrServerRole,
				role, want, got, chain[0].Issuer.CommonName)
		}
	}
	return nil
}

// PinRole returns a clone of conf (nil: an empty configuration) whose handshakes also apply
// CheckRole to the chains crypto/tls verified, before conf's own VerifyConnection. It is for
// a configuration that verifies with RootCAs; Trust.RoleConfig pins its own.
func PinRole(conf *tls.Config, role ServerRole) *tls.Config {
	c := &tls.Config{}
	if conf != nil {
		c = conf.Clone()
	}
	if role == RoleAny {
		return c
	}
	next := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := CheckRole(cs.VerifiedChains, role); err != nil {
			return err
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return c
}

// CheckServerCert refuses a server certificate that Init issued for the other role: the CM
// started with cs.crt, or a relay with cm.crt. Other certificates (an operator's own) pass.
func CheckServerCert(leaf *x509.Certificate, role ServerRole) error {
	if leaf == nil {
		return errors.New("certs: no server certificate")
	}
	var other ServerRole
	switch role {
	case RoleCM:
		other = RoleRelay
	case RoleRelay:
		other = RoleCM
	default:
		return nil
	}
	if leaf.Subject.CommonName == other.commonName() {
		return fmt.Errorf("%w: the %s was given the %s certificate (CN %q); use %s", ErrServerRole,
			role, other, leaf.Subject.CommonName, role.certFile())
	}
	return nil
}

// certFile is the file Init writes role's certificate to.
func (r ServerRole) certFile() string {
	if r == RoleCM {
		return CMCertFile + " and " + CMKeyFile
	}
	return CSCertFile + " and " + CSKeyFile
}
