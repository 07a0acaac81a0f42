package translog

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Signer signs records and checkpoints with the log key.
type Signer struct {
	s    note.Signer
	v    note.Verifier
	vkey string
	// macKey is the record MAC key derived from the signing key (recordmac.go).
	macKey []byte
}

// NewSigner parses a signing key and its verifier key (the texts of certs.LogKeyFile and
// certs.LogPubFile); an error when they are not one pair.
func NewSigner(skey, vkey string) (*Signer, error) {
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("translog: signing key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("translog: verifier key: %w", err)
	}
	probe := []byte("portcullis log key pair")
	if sig, err := s.Sign(probe); err != nil || v.Name() != s.Name() || v.KeyHash() != s.KeyHash() || !v.Verify(probe, sig) {
		return nil, errors.New("translog: the signing key and the verifier key are not one pair")
	}
	macKey, err := recordMACKey(strings.TrimSpace(skey))
	if err != nil {
		return nil, err
	}
	return &Signer{s: s, v: v, vkey: strings.TrimSpace(vkey) + "\n", macKey: macKey}, nil
}

// LoadSigner reads the signing key and its verifier key from the files keyPath and pubPath.
func LoadSigner(keyPath, pubPath string) (*Signer, error) {
	skey, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("translog: %w (create it with: portcullis certs log-key)", err)
	}
	vkey, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, fmt.Errorf("translog: %w", err)
	}
	return NewSigner(string(skey), string(vkey))
}

// VerifierKey is the text of the verifier key that reviewers check the log with.
func (s *Signer) VerifierKey() string { return s.vkey }

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
