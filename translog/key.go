package translog

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key files in a certificates directory.
const (
	// KeyFile is the log's signing key (a note signer key, PRIVATE+KEY+…); only CMs hold it.
	KeyFile = "log.key"
	// PubFile is the log's verifier key (name+hash+key) that reviewers verify with.
	PubFile = "log.pub"
	// DefaultOrigin names the log in its checkpoints and keys.
	DefaultOrigin = "portcullis-decisions"
)

// GenerateKey returns a new log key pair named origin, as the texts of KeyFile and PubFile.
func GenerateKey(origin string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("translog: generate key: %w", err)
	}
	return skey + "\n", vkey + "\n", nil
}

// Signer signs records and checkpoints with the log key.
type Signer struct {
	s note.Signer
}

// NewSigner parses a signing key (the text of KeyFile).
func NewSigner(skey string) (*Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("translog: signing key: %w", err)
	}
	return &Signer{s: s}, nil
}

// LoadSigner reads the signing key from path.
func LoadSigner(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("translog: %w (create it with: portcullis certs log-key)", err)
	}
	return NewSigner(string(b))
}

// Origin is the log's name, which its checkpoints carry.
func (s *Signer) Origin() string { return s.s.Name() }

// SignRecord signs a record's canonical encoding (see Canonical).
func (s *Signer) SignRecord(canonical []byte) ([]byte, error) {
	sig, err := s.s.Sign(canonical)
	if err != nil {
		return nil, fmt.Errorf("translog: sign record: %w", err)
	}
	return sig, nil
}

// Verifier checks records and checkpoints against the log's public key.
type Verifier struct {
	v note.Verifier
}

// NewVerifier parses a verifier key (the text of PubFile).
func NewVerifier(vkey string) (*Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("translog: verifier key: %w", err)
	}
	return &Verifier{v: v}, nil
}

// LoadVerifier reads the verifier key from path.
func LoadVerifier(path string) (*Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	return NewVerifier(string(b))
}

// Origin is the log's name.
func (v *Verifier) Origin() string { return v.v.Name() }

// VerifyRecord reports whether sig is the log key's signature of a record's canonical encoding.
func (v *Verifier) VerifyRecord(canonical, sig []byte) bool {
	return len(sig) > 0 && v.v.Verify(canonical, sig)
}

// ErrNoKey reports a CM started without a log key.
var ErrNoKey = errors.New("translog: no log key")
