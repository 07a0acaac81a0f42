package certs

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/atomicfile"
)

// A Connection Server proves which relay it is with a client certificate that names its id:
// common name "relay:<id>". A tenant's relay gets one from the CM when it enrols; a vendor's
// relay gets one from the vendor's CA (IssueRelay: `portcullis certs relay`, or
// `portcullis certs init --relay`), marked with the organizational unit VendorRelayUnit, which
// the CM never puts in a certificate it issues at enrollment.
const (
	// RelayCNPrefix starts the common name of every relay's client certificate.
	RelayCNPrefix = "relay:"
	// VendorRelayUnit is the organizational unit that marks a vendor relay's certificate.
	VendorRelayUnit = "portcullis vendor relay"
)

// relayIDPattern is what a relay may be called: it is a ticket audience, a certificate's
// common name and part of a file name. It is the CM's pattern for enrolled ids.
var relayIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$`)

// CheckRelayID returns an error unless id is a valid relay id: 1 to 64 lower-case letters,
// digits, dots and dashes, starting and ending with a letter or digit.
func CheckRelayID(id string) error {
	if !relayIDPattern.MatchString(id) {
		return fmt.Errorf("certs: relay id %q must be 1 to 64 lower-case letters, digits, dots and dashes", id)
	}
	return nil
}

// RelayCommonName is the common name of relay id's client certificate.
func RelayCommonName(id string) string { return RelayCNPrefix + id }

// RelayCertFile is the name of vendor relay id's client certificate file (PEM).
func RelayCertFile(id string) string { return "relay-" + id + ".crt" }

// RelayKeyFile is the name of vendor relay id's private key file (PKCS#8 PEM).
func RelayKeyFile(id string) string { return "relay-" + id + ".key" }

// RelayIDOf returns the relay id a certificate's common name names, and false when it names
// no relay.
func RelayIDOf(cert *x509.Certificate) (string, bool) {
	if cert == nil {
		return "", false
	}
	id, ok := strings.CutPrefix(cert.Subject.CommonName, RelayCNPrefix)
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// IsVendorRelay reports whether cert is a vendor relay's certificate (VendorRelayUnit).
func IsVendorRelay(cert *x509.Certificate) bool {
	return cert != nil && slices.Contains(cert.Subject.OrganizationalUnit, VendorRelayUnit)
}

// IssueRelayCert signs a vendor relay's client certificate for pub: common name "relay:<id>",
// organizational unit VendorRelayUnit, client authentication only, valid for ttl (never beyond
// the CA). It returns the certificate in DER.
func (ca *CA) IssueRelayCert(pub crypto.PublicKey, id string, ttl time.Duration) ([]byte, error) {
	if err := CheckRelayID(id); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("certs: relay certificate ttl %s is not positive", ttl)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: RelayCommonName(id), OrganizationalUnit: []string{VendorRelayUnit}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, pub, ttl)
}

// RelayOptions configure IssueRelay; the zero value gives the documented defaults.
type RelayOptions struct {
	// Algorithm is the relay key's type; "" means the type of the CA's key.
	Algorithm Algorithm
	// Validity is how long the certificate is valid; 0 means DefaultValidity (never beyond the
	// CA's own expiry).
	Validity time.Duration
	// Force overwrites the relay's existing files instead of refusing with ErrExists.
	Force bool
}

// IssueRelay writes vendor relay id's client certificate and key into dir (RelayCertFile and
// RelayKeyFile), signed by the CA in dir (CAFile and CAKeyFile, as Init writes them). Unless
// opts.Force is set it writes nothing when either file exists, and returns ErrExists.
func IssueRelay(dir, id string, opts RelayOptions) error {
	if err := CheckRelayID(id); err != nil {
		return err
	}
	if opts.Validity < 0 {
		return fmt.Errorf("certs: negative validity %s", opts.Validity)
	}
	names := []string{RelayCertFile(id), RelayKeyFile(id)}
	if !opts.Force {
		if err := refuseExisting(dir, names); err != nil {
			return err
		}
	}
	ca, err := LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return err
	}
	if opts.Algorithm == "" {
		opts.Algorithm = algorithmOf(ca.Key)
	}
	lf, err := ca.newRelayCert(id, opts.Algorithm, orValidity(opts.Validity))
	if err != nil {
		return err
	}
	return writeFiles(dir, lf.files(names[0], names[1]))
}

// newRelayCert creates a key of alg and a vendor relay certificate for it.
func (ca *CA) newRelayCert(id string, alg Algorithm, validity time.Duration) (leafFiles, error) {
	key, err := generateKey(alg)
	if err != nil {
		return leafFiles{}, fmt.Errorf("certs: relay %s key: %w", id, err)
	}
	der, err := ca.IssueRelayCert(key.Public(), id, validity)
	if err != nil {
		return leafFiles{}, err
	}
	keyPEM, err := encodePrivateKeyPEM(key)
	if err != nil {
		return leafFiles{}, err
	}
	return leafFiles{cert: EncodeCertPEM(der), key: keyPEM}, nil
}

// checkRelayIDs reports every invalid or repeated relay id.
func checkRelayIDs(ids []string) error {
	var errs []error
	seen := map[string]bool{}
	for _, id := range ids {
		if err := CheckRelayID(id); err != nil {
			errs = append(errs, err)
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("certs: relay %q named twice", id))
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

// relayFiles lists the files of the vendor relays ids.
func relayFiles(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, RelayCertFile(id), RelayKeyFile(id))
	}
	return out
}

// algorithmOf is the Algorithm of a CA key: AlgRSA4096 for RSA, AlgP384 for anything else.
func algorithmOf(key crypto.Signer) Algorithm {
	if _, ok := key.(*rsa.PrivateKey); ok {
		return AlgRSA4096
	}
	return AlgP384
}

// orValidity returns v, or DefaultValidity when v is zero.
func orValidity(v time.Duration) time.Duration {
	if v == 0 {
		return DefaultValidity
	}
	return v
}

// writeFiles writes files into dir, each atomically with its mode.
func writeFiles(dir string, files []file) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("certs: create %s: %w", dir, err)
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}
