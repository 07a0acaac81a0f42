package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"golang.org/x/crypto/ssh"
)

// File names Init writes in its directory.
const (
	// CAFile is the X.509 CA certificate (PEM).
	CAFile = "ca.crt"
	// CAKeyFile is the X.509 CA private key (PKCS#8 PEM).
	CAKeyFile = "ca.key"
	// CMCertFile is the Connection Manager's TLS server certificate (PEM).
	CMCertFile = "cm.crt"
	// CMKeyFile is the Connection Manager's TLS private key (PKCS#8 PEM).
	CMKeyFile = "cm.key"
	// CSCertFile is the Connection Servers' TLS server certificate (PEM), for port 1970. It is
	// no client certificate: each relay speaks to the CM with its own (RelayCertFile).
	CSCertFile = "cs.crt"
	// CSKeyFile is the Connection Servers' TLS private key (PKCS#8 PEM).
	CSKeyFile = "cs.key"
	// LogKeyFile is the decision log's signing key (a signed-note key, PRIVATE+KEY+…).
	LogKeyFile = "log.key"
	// LogPubFile is the decision log's verifier key, which reviewers verify the log with.
	LogPubFile = "log.pub"
	// LogOrigin names the decision log in its keys and checkpoints.
	LogOrigin = "portcullis-decisions"
	// TicketKeyFile is the Ed25519 ticket signing key (PKCS#8 PEM).
	TicketKeyFile = "ticket.key"
	// TicketPubFile is the Ed25519 ticket verification key (PKIX PEM).
	TicketPubFile = "ticket.pub"
	// SSHUserCAFile is the SSH user CA private key (OpenSSH PEM, Ed25519).
	SSHUserCAFile = "ssh_user_ca"
	// SSHUserCAPubFile is the SSH user CA public key (authorized_keys line).
	SSHUserCAPubFile = "ssh_user_ca.pub"
)

// Common names of the certificates Init issues.
const (
	// CACommonName is the subject CN of the CA certificate.
	CACommonName = "Portcullis CA"
	// CMCommonName is the subject CN of the Connection Manager's certificate.
	CMCommonName = "portcullis-cm"
	// CSCommonName is the subject CN of the Connection Servers' TLS server certificate. It
	// names no relay: the CM refuses it as a relay's identity (older versions shared it).
	CSCommonName = "portcullis-relay"
)

// File modes and limits.
const (
	// PrivateKeyMode is the mode of every private key file.
	PrivateKeyMode fs.FileMode = 0o600
	// PublicFileMode is the mode of certificates and public keys.
	PublicFileMode fs.FileMode = 0o644
	// DirMode is the mode of a key directory Init creates.
	DirMode fs.FileMode = 0o700
	// DefaultValidity is how long Init's certificates are valid by default (825 days).
	DefaultValidity = 825 * 24 * time.Hour
	// BackdateCertificates is how far before now certificates become valid, for clock skew.
	BackdateCertificates = 5 * time.Minute
	// rsaBits is the size of AlgRSA4096 keys, in bits.
	rsaBits = 4096
	// serialBits is the size of random certificate serial numbers, in bits.
	serialBits = 128
	// sshCAComment is the comment of the SSH user CA key.
	sshCAComment = "portcullis-user-ca"
)

// ErrExists means Init found a key file it would overwrite and InitOptions.Force is not set.
var ErrExists = errors.New("certs: key file exists")

// Algorithm names the key type of the X.509 CA and TLS certificates.
type Algorithm string

// The supported TLS key algorithms.
const (
	// AlgRSA4096 is 4096-bit RSA, the default.
	AlgRSA4096 Algorithm = "rsa4096"
	// AlgP384 is ECDSA on NIST P-384.
	AlgP384 Algorithm = "p384"
)

// InitOptions configure Init; the zero value gives the documented defaults.
type InitOptions struct {
	// Algorithm is the X.509 key type; "" means AlgRSA4096.
	Algorithm Algorithm
	// Hosts are the SANs (DNS names or IP addresses) of the CM's certificate; empty means
	// localhost, 127.0.0.1 and ::1. They name the relays' certificate too when RelayHosts is
	// empty (as before RelayHosts existed).
	Hosts []string
	// RelayHosts are the SANs of the relays' shared certificate (CSCertFile), whose key every
	// Connection Server holds; empty means Hosts. Naming only the relays' addresses here keeps
	// that key from being valid for the CM's name at all.
	RelayHosts []string
	// Force overwrites existing files instead of refusing with ErrExists.
	Force bool
	// Validity is how long the certificates are valid; 0 means DefaultValidity.
	Validity time.Duration
	// Relays are the ids of vendor relays to issue client certificates for (see IssueRelay);
	// empty means none.
	Relays []string
}

// withDefaults fills the zero fields and reports every invalid one.
func (o InitOptions) withDefaults() (InitOptions, error) {
	if o.Algorithm == "" {
		o.Algorithm = AlgRSA4096
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if len(o.RelayHosts) == 0 {
		o.RelayHosts = o.Hosts
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	var errs []error
	if o.Algorithm != AlgRSA4096 && o.Algorithm != AlgP384 {
		errs = append(errs, fmt.Errorf("certs: unknown algorithm %q (want %q or %q)", o.Algorithm, AlgRSA4096, AlgP384))
	}
	if o.Validity < 0 {
		errs = append(errs, fmt.Errorf("certs: negative validity %s", o.Validity))
	}
	for _, h := range append(append([]string(nil), o.Hosts...), o.RelayHosts...) {
		if h == "" {
			errs = append(errs, errors.New("certs: empty host name"))
		}
	}
	errs = append(errs, checkRelayIDs(o.Relays))
	return o, errors.Join(errs...)
}

// Init creates dir (mode 0700) if needed and writes a fresh CA, the CM and CS TLS certificates,
// the ticket key pair, the SSH user CA and a client certificate for each of opts.Relays into it
// (see the file name constants and RelayCertFile). Unless
// opts.Force is set it writes nothing when any of those files exists, and returns ErrExists
// wrapped with the file's path.
func Init(dir string, opts InitOptions) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("certs: create %s: %w", dir, err)
	}
	if !opts.Force {
		if err := refuseExisting(dir, append(allFiles(), relayFiles(opts.Relays)...)); err != nil {
			return err
		}
	}
	files, err := generate(opts)
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

// allFiles lists every file Init writes whatever its options.
func allFiles() []string {
	return []string{CAFile, CAKeyFile, CMCertFile, CMKeyFile, CSCertFile, CSKeyFile,
		TicketKeyFile, TicketPubFile, SSHUserCAFile, SSHUserCAPubFile, LogKeyFile, LogPubFile}
}

// refuseExisting returns ErrExists naming the first of the named files present in dir.
func refuseExisting(dir string, names []string) error {
	for _, name := range names {
		path := filepath.Join(dir, name)
		_, err := os.Lstat(path)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %s", ErrExists, path)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}

// file is one file Init writes.
type file struct {
	name string
	data []byte
	mode fs.FileMode
}

// generate creates all of Init's key material in memory.
func generate(opts InitOptions) ([]file, error) {
	ca, caFiles, err := newCA(opts)
	if err != nil {
		return nil, err
	}
	files := caFiles
	leaves := []struct {
		cn, certName, keyName string
		hosts                 []string
	}{
		{CMCommonName, CMCertFile, CMKeyFile, opts.Hosts},
		{CSCommonName, CSCertFile, CSKeyFile, opts.RelayHosts},
	}
	for _, l := range leaves {
		lf, err := ca.newServerCert(opts, l.cn, l.hosts)
		if err != nil {
			return nil, err
		}
		files = append(files, lf.files(l.certName, l.keyName)...)
	}
	for _, id := range opts.Relays {
		lf, err := ca.newRelayCert(id, opts.Algorithm, opts.Validity)
		if err != nil {
			return nil, err
		}
		files = append(files, lf.files(RelayCertFile(id), RelayKeyFile(id))...)
	}
	ticketFiles, err := newTicketKey()
	if err != nil {
		return nil, err
	}
	sshFiles, err := newSSHUserCA()
	if err != nil {
		return nil, err
	}
	logFiles, err := newLogKey()
	if err != nil {
		return nil, err
	}
	return append(append(append(files, ticketFiles...), sshFiles...), logFiles...), nil
}

// generateKey creates a private key of the algorithm.
func generateKey(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case AlgRSA4096:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case AlgP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("certs: unknown algorithm %q", alg)
}

// newCA creates a self-signed CA and its two files.
func newCA(opts InitOptions) (*CA, []file, error) {
	key, err := generateKey(opts.Algorithm)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName, Organization: []string{"Portcullis"}},
		NotBefore:             now.Add(-BackdateCertificates),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parse CA certificate: %w", err)
	}
	keyPEM, err := encodePrivateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	files := []file{{CAFile, EncodeCertPEM(der), PublicFileMode}, {CAKeyFile, keyPEM, PrivateKeyMode}}
	return &CA{Cert: cert, Key: key}, files, nil
}

// leafFiles are the PEM encodings of a leaf certificate and its key.
type leafFiles struct{ cert, key []byte }

// files are the certificate and key files of lf, named certName and keyName.
func (lf leafFiles) files(certName, keyName string) []file {
	return []file{{certName, lf.cert, PublicFileMode}, {keyName, lf.key, PrivateKeyMode}}
}

// newServerCert creates a key and a TLS server certificate named cn for hosts.
func (ca *CA) newServerCert(opts InitOptions, cn string, hosts []string) (leafFiles, error) {
	key, err := generateKey(opts.Algorithm)
	if err != nil {
		return leafFiles{}, fmt.Errorf("certs: %s key: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := ca.issue(tmpl, key.Public(), opts.Validity)
	if err != nil {
		return leafFiles{}, err
	}
	keyPEM, err := encodePrivateKeyPEM(key)
	if err != nil {
		return leafFiles{}, err
	}
	return leafFiles{cert: EncodeCertPEM(der), key: keyPEM}, nil
}

// newTicketKey creates the Ed25519 ticket key pair files.
func newTicketKey() ([]file, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: ticket key: %w", err)
	}
	keyPEM, err := encodePrivateKeyPEM(priv)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("certs: ticket public key: %w", err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: pubDER})
	return []file{{TicketKeyFile, keyPEM, PrivateKeyMode}, {TicketPubFile, pubPEM, PublicFileMode}}, nil
}

// NewLogKey returns a new decision-log key pair named LogOrigin, as the texts of LogKeyFile
// and LogPubFile.
func NewLogKey() (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, LogOrigin)
	if err != nil {
		return "", "", fmt.Errorf("certs: log key: %w", err)
	}
	return skey + "\n", vkey + "\n", nil
}

// newLogKey creates the decision log's key files.
func newLogKey() ([]file, error) {
	skey, vkey, err := NewLogKey()
	if err != nil {
		return nil, err
	}
	return []file{{LogKeyFile, []byte(skey), PrivateKeyMode}, {LogPubFile, []byte(vkey), PublicFileMode}}, nil
}

// InitLogKey writes a decision-log key pair into dir, for a directory made before the log had
// one; ErrExists when it has one.
func InitLogKey(dir string) error {
	if err := refuseExisting(dir, []string{LogKeyFile, LogPubFile}); err != nil {
		return err
	}
	files, err := newLogKey()
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

// newSSHUserCA creates the Ed25519 SSH user CA files.
func newSSHUserCA() ([]file, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: SSH user CA key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, sshCAComment)
	if err != nil {
		return nil, fmt.Errorf("certs: encode SSH user CA key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("certs: SSH user CA public key: %w", err)
	}
	return []file{
		{SSHUserCAFile, pem.EncodeToMemory(block), PrivateKeyMode},
		{SSHUserCAPubFile, ssh.MarshalAuthorizedKey(sshPub), PublicFileMode},
	}, nil
}
