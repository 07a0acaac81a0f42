package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Signing key parameters.
const (
	// rsaKeyBits is the size of each RS256 signing key.
	rsaKeyBits = 2048
	// MaxPublishedKeys is how many signing keys the JWKS publishes: the
	// current one and the most recent previous ones, so tokens signed before
	// a rotation keep verifying.
	MaxPublishedKeys = 3
	// signingAlg is the ID token signature algorithm.
	signingAlg = jose.RS256
)

// signingKey is one RSA key; it implements op.SigningKey (private) and, via
// publicKey, op.Key (public).
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func newSigningKey() (*signingKey, error) {
	key, err := GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	return signingKeyOf(key)
}

// GenerateSigningKey makes a fresh RSA key of the size the provider signs with, for
// Config.SigningKey.
func GenerateSigningKey() (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("devidp: generate signing key: %w", err)
	}
	return key, nil
}

// signingKeyOf wraps key, with its key id: the start of the SHA-256 of its public half, so the
// same key always has the same id.
func signingKeyOf(key *rsa.PrivateKey) (*signingKey, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("devidp: encode signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &signingKey{id: hex.EncodeToString(sum[:8]), key: key}, nil
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return signingAlg }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is the published half of a signingKey.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return signingAlg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return &p.k.key.PublicKey }

// keyRing holds the signing keys, newest first. The caller locks.
type keyRing struct {
	keys []*signingKey
}

// rotate makes a new current key and drops the oldest beyond MaxPublishedKeys.
func (r *keyRing) rotate(k *signingKey) {
	r.keys = append([]*signingKey{k}, r.keys...)
	if len(r.keys) > MaxPublishedKeys {
		r.keys = r.keys[:MaxPublishedKeys]
	}
}

func (r *keyRing) current() *signingKey { return r.keys[0] }

func (r *keyRing) published() []op.Key {
	out := make([]op.Key, len(r.keys))
	for i, k := range r.keys {
		out[i] = publicKey{k}
	}
	return out
}
