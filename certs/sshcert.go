package certs

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/access"
	"golang.org/x/crypto/ssh"
)

// The Guest's SSH user certificate, signed by the Connection Manager's user CA for the Guest's
// per-connection key:
//
//	CertType         ssh.UserCert
//	KeyId            the decision id (the decision log record that allowed the session)
//	ValidPrincipals  exactly one: the subject (user id); the SSH user name must equal it
//	ValidAfter       now - CertBackdate
//	ValidBefore      now + the session's maximum duration (at most MaxCertValidity)
//	CriticalOptions  none (the Host refuses any)
//	Extensions       "session@portcullis" = session id (an extension, not a critical option,
//	                 so OpenSSH clients accept the certificate too);
//	                 "permit-pty" when the obligations allow "shell";
//	                 "permit-port-forwarding" when the obligations allow "forward";
//	                 "groups@portcullis" = the subject's groups as a JSON array of strings, when
//	                 it has any (the Host's allowlist and rego schemes read them)
const (
	// ExtensionGroups names the certificate extension carrying the subject's groups (JSON array).
	ExtensionGroups = "groups@portcullis"
	// ExtensionSession names the certificate extension carrying the session id.
	ExtensionSession = "session@portcullis"
	// ExtensionPermitPTY is OpenSSH's extension allowing a terminal; set only when shell is allowed.
	ExtensionPermitPTY = "permit-pty"
	// ExtensionPermitPortForwarding is OpenSSH's extension allowing port forwarding.
	ExtensionPermitPortForwarding = "permit-port-forwarding"
	// CertBackdate is how far before signing a certificate becomes valid, to absorb clock skew.
	CertBackdate = 30 * time.Second
	// MaxCertValidity bounds a certificate's lifetime after signing.
	MaxCertValidity = 24 * time.Hour
)

// ErrBadCertRequest reports a UserCertRequest that cannot be signed (a missing field, a bad
// lifetime). Verification refuses a certificate with a code of package access instead
// (access.ErrNotCertificate, ErrWrongCA, ErrExpired, ErrWrongSession, ...), wrapped with detail.
var ErrBadCertRequest = errors.New("certs: bad certificate request")

// UserCertRequest is what the Connection Manager certifies about a Guest's key.
type UserCertRequest struct {
	// Principal is the subject (user id); the Guest must log in with it as the SSH user name.
	Principal string
	// SessionID is the session the certificate is good for.
	SessionID string
	// DecisionID is the decision that allowed the session; it becomes the certificate's KeyId.
	DecisionID string
	// ValidFor is the certificate's lifetime from Now; 0 means Obligations.MaxDuration().
	ValidFor time.Duration
	// Groups are the subject's identity-provider groups, carried in ExtensionGroups.
	Groups []string
	// Obligations are the obligations of the decision; they decide the certificate's extensions.
	Obligations access.Obligations
	// Now is the signing time; zero means time.Now().
	Now time.Time
}

// SignUserCert signs a user certificate for pub with the user CA, following the certificate
// contract above. Errors wrap ErrBadCertRequest when the request itself is unusable.
func SignUserCert(ca ssh.Signer, pub ssh.PublicKey, req UserCertRequest) (*ssh.Certificate, error) {
	validFor := req.ValidFor
	if validFor == 0 {
		validFor = req.Obligations.MaxDuration()
	}
	if err := req.check(ca, pub, validFor); err != nil {
		return nil, err
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	serial, err := randomSSHSerial()
	if err != nil {
		return nil, err
	}
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        ssh.UserCert,
		KeyId:           req.DecisionID,
		ValidPrincipals: []string{req.Principal},
		ValidAfter:      uint64(now.Add(-CertBackdate).Unix()),
		ValidBefore:     uint64(now.Add(validFor).Unix()),
		Permissions:     ssh.Permissions{Extensions: certExtensions(req)},
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return nil, fmt.Errorf("certs: sign user certificate: %w", err)
	}
	return cert, nil
}

// check returns every problem with the request at once, each wrapping ErrBadCertRequest.
func (req UserCertRequest) check(ca ssh.Signer, pub ssh.PublicKey, validFor time.Duration) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadCertRequest}, args...)...))
	}
	if ca == nil {
		bad("no CA signer")
	}
	if pub == nil {
		bad("no public key")
	} else if _, isCert := pub.(*ssh.Certificate); isCert {
		bad("the key to certify is itself a certificate")
	}
	if req.Principal == "" {
		bad("no principal")
	}
	if req.SessionID == "" {
		bad("no session id")
	}
	if req.DecisionID == "" {
		bad("no decision id")
	}
	if validFor <= 0 || validFor > MaxCertValidity {
		bad("lifetime %v is outside (0, %v]", validFor, MaxCertValidity)
	}
	return errors.Join(errs...)
}

// certExtensions derives the certificate's extensions from the request.
func certExtensions(req UserCertRequest) map[string]string {
	ext := map[string]string{ExtensionSession: req.SessionID}
	if req.Obligations.Allows("shell") {
		ext[ExtensionPermitPTY] = ""
	}
	if req.Obligations.Allows("forward") {
		ext[ExtensionPermitPortForwarding] = ""
	}
	if len(req.Groups) > 0 {
		groups, _ := json.Marshal(req.Groups) // a []string always encodes
		ext[ExtensionGroups] = string(groups)
	}
	return ext
}

// CertGroups returns the groups a certificate carries (ExtensionGroups); none when it carries
// none, an error when the extension is not a JSON array of strings.
func CertGroups(cert *ssh.Certificate) ([]string, error) {
	raw, ok := cert.Extensions[ExtensionGroups]
	if !ok {
		return nil, nil
	}
	var groups []string
	if err := json.Unmarshal([]byte(raw), &groups); err != nil {
		return nil, fmt.Errorf("certs: %s extension: %w", ExtensionGroups, err)
	}
	return groups, nil
}

// randomSSHSerial returns a random SSH certificate serial number.
func randomSSHSerial() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("certs: certificate serial: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// UserCertChecker is the Host's check of a Guest's key: it must be a user certificate signed by
// UserCA for SessionID, valid now, with exactly one principal equal to the SSH user name.
type UserCertChecker struct {
	// UserCA is the Connection Manager's SSH user CA public key.
	UserCA ssh.PublicKey
	// SessionID is the session the Host was told to serve (from its own ticket).
	SessionID string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check returns the certificate when key is acceptable for the SSH user name user; otherwise an
// error wrapping the sentinel of the first failed check. The signature is checked before any of
// the certificate's claims, so a forged certificate is always refused as forged.
func (c UserCertChecker) Check(user string, key ssh.PublicKey) (*ssh.Certificate, error) {
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("certs: %w: offered a plain %s key", access.ErrNotCertificate, key.Type())
	}
	if cert.CertType != ssh.UserCert {
		return nil, fmt.Errorf("certs: %w: type %d", access.ErrNotUserCert, cert.CertType)
	}
	if err := c.checkSigner(cert); err != nil {
		return nil, err
	}
	if len(cert.CriticalOptions) > 0 {
		return nil, fmt.Errorf("certs: %w: %d present", access.ErrCriticalOption, len(cert.CriticalOptions))
	}
	if len(cert.ValidPrincipals) != 1 {
		return nil, fmt.Errorf("certs: %w: it names %d", access.ErrPrincipalCount, len(cert.ValidPrincipals))
	}
	if principal := cert.ValidPrincipals[0]; principal != user {
		return nil, fmt.Errorf("certs: %w: user %q, principal %q", access.ErrPrincipalMismatch, user, principal)
	}
	if err := c.checkValidity(cert); err != nil {
		return nil, err
	}
	if got, ok := cert.Extensions[ExtensionSession]; !ok || got != c.SessionID {
		return nil, fmt.Errorf("certs: %w: this Host serves session %q, the certificate names %q", access.ErrWrongSession, c.SessionID, got)
	}
	return cert, nil
}

// checkSigner verifies that UserCA signed the certificate.
func (c UserCertChecker) checkSigner(cert *ssh.Certificate) error {
	if c.UserCA == nil || cert.SignatureKey == nil || !bytes.Equal(cert.SignatureKey.Marshal(), c.UserCA.Marshal()) {
		return fmt.Errorf("certs: %w: signed by %s", access.ErrWrongCA, keyName(cert.SignatureKey))
	}
	if cert.Signature == nil || c.UserCA.Verify(signedBytes(cert), cert.Signature) != nil {
		return fmt.Errorf("certs: certificate %w", access.ErrBadSignature)
	}
	return nil
}

// checkValidity checks the certificate's validity window against the clock.
func (c UserCertChecker) checkValidity(cert *ssh.Certificate) error {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	unixNow := now().Unix()
	after, before := int64(cert.ValidAfter), int64(cert.ValidBefore)
	if after < 0 || before < 0 || before-after > int64((MaxCertValidity+CertBackdate)/time.Second) {
		return fmt.Errorf("certs: %w: valid from %d to %d", access.ErrCertLifetime, cert.ValidAfter, cert.ValidBefore)
	}
	if unixNow < after {
		return fmt.Errorf("certs: %w: valid from %s", access.ErrNotYetValid, time.Unix(after, 0).UTC().Format(time.RFC3339))
	}
	if unixNow >= before {
		return fmt.Errorf("certs: %w: valid until %s", access.ErrExpired, time.Unix(before, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// signedBytes returns the part of the certificate's wire form that its signature covers: the
// whole certificate up to the signature field (PROTOCOL.certkeys), as x/crypto/ssh signs it.
func signedBytes(cert *ssh.Certificate) []byte {
	unsigned := *cert
	unsigned.Signature = nil
	out := unsigned.Marshal()
	// Marshal ends with the (empty) signature's 4-byte length prefix.
	return out[:len(out)-4]
}

// CertExpiry returns the end of the certificate's validity window.
func CertExpiry(cert *ssh.Certificate) time.Time {
	return time.Unix(int64(cert.ValidBefore), 0)
}

// keyName names a key for messages; a nil key is "none".
func keyName(key ssh.PublicKey) string {
	if key == nil {
		return "none"
	}
	return ssh.FingerprintSHA256(key)
}
