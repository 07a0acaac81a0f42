package devidp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Storage limits.
const (
	// AuthRequestLifetime is how long a code-flow sign-in may take, login form included.
	AuthRequestLifetime = 10 * time.Minute
	// DeviceCodeLifetime is how long a device code waits for approval.
	DeviceCodeLifetime = 10 * time.Minute
	// DevicePollInterval is the polling interval announced to device clients.
	DevicePollInterval = time.Second
	// MaxPending bounds each in-memory table (auth requests, device
	// authorizations, access tokens, refresh tokens).
	MaxPending = 10000
	// idBytes is the entropy of generated ids and refresh tokens (128 bits).
	idBytes = 16
	// scopeGroups asks for the groups claim; the provider also sends it without.
	scopeGroups = "groups"
)

// Errors of the device user-code page.
var (
	// ErrUnknownUserCode: no pending device authorization has this user code (typo, expired or used).
	ErrUnknownUserCode = errors.New("unknown or expired user code")
	// errTooMany: a table reached MaxPending.
	errTooMany = errors.New("devidp: too many pending requests")
)

// storage is the provider's in-memory state; it implements op.Storage,
// op.CanSetUserinfoFromRequest and op.DeviceAuthorizationStorage.
type storage struct {
	dir    directory
	client publicClient
	now    func() time.Time

	mu            sync.Mutex
	keys          keyRing
	authRequests  map[string]*authRequest
	codes         map[string]string // authorization code -> auth request id
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
	devices       map[string]*deviceEntry // device code -> entry
	userCodes     map[string]string       // normalized user code -> device code
}

func newStorage(dir directory, client publicClient, key *signingKey) *storage {
	s := &storage{
		dir:           dir,
		client:        client,
		now:           time.Now,
		authRequests:  map[string]*authRequest{},
		codes:         map[string]string{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
		devices:       map[string]*deviceEntry{},
		userCodes:     map[string]string{},
	}
	s.keys.rotate(key)
	return s
}

func randomID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// sweep drops expired entries. The caller holds s.mu.
func (s *storage) sweep(now time.Time) {
	for id, a := range s.authRequests {
		if now.Sub(a.created) > AuthRequestLifetime {
			s.deleteAuthRequest(id)
		}
	}
	for id, t := range s.accessTokens {
		if now.After(t.expiry) {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if now.After(t.expiry) {
			delete(s.refreshTokens, id)
		}
	}
	for code, e := range s.devices {
		// Kept a while past expiry so a polling client learns expired_token.
		if now.After(e.state.Expires.Add(DeviceCodeLifetime)) {
			delete(s.userCodes, normalizeUserCode(e.userCode))
			delete(s.devices, code)
		}
	}
}

func (s *storage) deleteAuthRequest(id string) {
	delete(s.authRequests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
}

// SigningKey returns the current signing key.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.current(), nil
}

// SignatureAlgorithms lists the ID token signature algorithms.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{signingAlg}, nil
}

// KeySet returns the published verification keys.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.published(), nil
}

// rotateKey makes k the signing key.
func (s *storage) rotateKey(k *signingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys.rotate(k)
}

// GetClientByClientID returns the one public client.
func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, fmt.Errorf("devidp: unknown client %q", clientID)
	}
	return s.client, nil
}

// AuthorizeClientIDSecret refuses: the only client is public and has no secret.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, _ string) error {
	return fmt.Errorf("devidp: client %q is public and authenticates with no secret", clientID)
}

// GetPrivateClaimsFromScopes adds nothing to JWT access tokens (this provider issues opaque ones).
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses: no client authenticates with a JWT.
func (s *storage) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, fmt.Errorf("devidp: no key %q for client %q: JWT profile is not supported", keyID, clientID)
}

// ValidateJWTProfileScopes keeps only openid (the JWT profile grant is not offered).
func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		return []string{oidc.ScopeOpenID}, nil
	}
	return nil, nil
}

// Health reports the storage healthy: it is memory.
func (s *storage) Health(context.Context) error { return nil }
