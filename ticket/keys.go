package ticket

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// keyIDHexChars is how many hex characters of the key's SHA-256 KeyID keeps (64 bits).
const keyIDHexChars = 16

// algEdDSA is the JWK "alg" of every published ticket key.
const algEdDSA = "EdDSA"

// KeyID returns a stable id for pub: the first 16 hex characters of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])[:keyIDHexChars]
}

// KeySet maps key ids to the Ed25519 public keys that verify tickets. It is safe for
// concurrent use, and Replace swaps the whole set at once (key rotation). The zero KeySet is
// empty and usable.
type KeySet struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
}

// NewKeySet returns a KeySet holding a copy of keys.
func NewKeySet(keys map[string]ed25519.PublicKey) *KeySet {
	k := new(KeySet)
	k.Replace(keys)
	return k
}

// Replace makes keys (copied) the whole set; tickets signed by a key no longer in it are
// refused with ErrUnknownKey from then on.
func (k *KeySet) Replace(keys map[string]ed25519.PublicKey) {
	next := make(map[string]ed25519.PublicKey, len(keys))
	for kid, pub := range keys {
		next[kid] = slices.Clone(pub)
	}
	k.mu.Lock()
	k.keys = next
	k.mu.Unlock()
}

// Lookup returns the key named kid.
func (k *KeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	if k == nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok := k.keys[kid]
	return pub, ok
}

// jwk is one published ticket key, a JSON Web Key (RFC 8037 OKP/Ed25519).
type jwk struct {
	KeyID string `json:"kid"`
	Alg   string `json:"alg"`
	Kty   string `json:"kty,omitempty"`
	Crv   string `json:"crv,omitempty"`
	X     string `json:"x"`
}

// jwkSet is the document GET /v1/ticket-keys serves.
type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// MarshalJSON encodes the set as {"keys":[{"kid":…,"alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":…}]},
// sorted by key id.
func (k *KeySet) MarshalJSON() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	set := jwkSet{Keys: []jwk{}}
	for _, kid := range slices.Sorted(maps.Keys(k.keys)) {
		set.Keys = append(set.Keys, jwk{
			KeyID: kid, Alg: algEdDSA, Kty: "OKP", Crv: "Ed25519",
			X: b64().EncodeToString(k.keys[kid]),
		})
	}
	return json.Marshal(set)
}

// UnmarshalJSON replaces the set with the keys of a document made by MarshalJSON. It refuses
// (and leaves the set unchanged) on any invalid or duplicate key.
func (k *KeySet) UnmarshalJSON(data []byte) error {
	var set jwkSet
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("ticket: key set: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for i, key := range set.Keys {
		pub, err := key.publicKey()
		if err != nil {
			return fmt.Errorf("ticket: key set: key %d: %w", i, err)
		}
		if _, dup := keys[key.KeyID]; dup {
			return fmt.Errorf("ticket: key set: duplicate key id %q", key.KeyID)
		}
		keys[key.KeyID] = pub
	}
	k.Replace(keys)
	return nil
}

// publicKey checks one JWK and returns its Ed25519 key.
func (j jwk) publicKey() (ed25519.PublicKey, error) {
	switch {
	case !validKeyID(j.KeyID):
		return nil, fmt.Errorf("invalid key id %q", truncate(j.KeyID))
	case j.Alg != algEdDSA:
		return nil, fmt.Errorf("alg %q, want %q", truncate(j.Alg), algEdDSA)
	case j.Kty != "" && j.Kty != "OKP", j.Crv != "" && j.Crv != "Ed25519":
		return nil, fmt.Errorf("kty %q crv %q, want OKP Ed25519", truncate(j.Kty), truncate(j.Crv))
	}
	x, err := b64().DecodeString(j.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x has %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}
