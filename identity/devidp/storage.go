package devidp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// authRequest is one code-flow sign-in; it implements op.AuthRequest.
type authRequest struct {
	id           string
	created      time.Time
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge

	// Set by the login form.
	done     bool
	subject  string
	amr      []string
	authTime time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return a.amr }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

func (a *authRequest) clone() *authRequest {
	c := *a
	c.scopes = slices.Clone(a.scopes)
	c.amr = slices.Clone(a.amr)
	return &c
}

type accessToken struct {
	id        string
	clientID  string
	subject   string
	refreshID string
	audience  []string
	scopes    []string
	expiry    time.Time
}

type refreshToken struct {
	token    string // the refresh token itself, also its id
	clientID string
	subject  string
	audience []string
	scopes   []string
	amr      []string
	authTime time.Time
	expiry   time.Time
	accessID string
}

// refreshTokenRequest implements op.RefreshTokenRequest over a copy of a refreshToken.
type refreshTokenRequest struct{ t refreshToken }

func (r *refreshTokenRequest) GetAMR() []string            { return r.t.amr }
func (r *refreshTokenRequest) GetAudience() []string       { return r.t.audience }
func (r *refreshTokenRequest) GetAuthTime() time.Time      { return r.t.authTime }
func (r *refreshTokenRequest) GetClientID() string         { return r.t.clientID }
func (r *refreshTokenRequest) GetScopes() []string         { return r.t.scopes }
func (r *refreshTokenRequest) GetSubject() string          { return r.t.subject }
func (r *refreshTokenRequest) SetCurrentScopes(s []string) { r.t.scopes = s }

type deviceEntry struct {
	userCode string
	state    op.DeviceAuthorizationState
}

// normalizeUserCode lets a person type a user code in any case, with or without dashes and spaces.
func normalizeUserCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		default:
			return r
		}
	}, code)
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

// CreateAuthRequest stores a validated authorization request. PKCE with S256 is required.
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.sweep(now)
	if len(s.authRequests) >= MaxPending {
		return nil, errTooMany
	}
	a := &authRequest{
		id:           randomID(),
		created:      now,
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       slices.Clone(req.Scopes),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		challenge:    &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
	}
	s.authRequests[a.id] = a
	return a.clone(), nil
}

// AuthRequestByID returns a copy of the auth request.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return nil, errors.New("devidp: auth request not found or expired")
	}
	return a.clone(), nil
}

// AuthRequestByCode returns a copy of the auth request an authorization code was issued for.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("devidp: authorization code invalid or used")
	}
	return s.AuthRequestByID(ctx, id)
}

// SaveAuthCode links an authorization code to its auth request.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.authRequests[id]; !ok {
		return errors.New("devidp: auth request not found or expired")
	}
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest forgets an auth request and its codes once tokens were issued.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteAuthRequest(id)
	return nil
}

// completeLogin marks an auth request signed in by the login form.
func (s *storage) completeLogin(id string, u User, amr []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok || s.now().Sub(a.created) > AuthRequestLifetime {
		return errors.New("this sign-in request is unknown or has expired; start again from the application")
	}
	a.done, a.subject, a.amr, a.authTime = true, u.subject(), amr, s.now()
	return nil
}

// tokenInfo is what every token request of ours can tell.
type tokenInfo interface {
	GetClientID() string
	GetAMR() []string
	GetAuthTime() time.Time
}

// newAccessToken stores an access token. The caller holds s.mu.
func (s *storage) newAccessToken(req op.TokenRequest, refreshID string) (*accessToken, error) {
	now := s.now()
	s.sweep(now)
	if len(s.accessTokens) >= MaxPending {
		return nil, errTooMany
	}
	var clientID string
	if info, ok := req.(tokenInfo); ok {
		clientID = info.GetClientID()
	}
	t := &accessToken{
		id:        randomID(),
		clientID:  clientID,
		subject:   req.GetSubject(),
		refreshID: refreshID,
		audience:  slices.Clone(req.GetAudience()),
		scopes:    slices.Clone(req.GetScopes()),
		expiry:    now.Add(AccessTokenLifetime),
	}
	s.accessTokens[t.id] = t
	return t, nil
}

// CreateAccessToken stores an access token for flows without a refresh token.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.newAccessToken(req, "")
	if err != nil {
		return "", time.Time{}, err
	}
	return t.id, t.expiry, nil
}

// CreateAccessAndRefreshTokens stores an access token and a new refresh
// token; with currentRefreshToken set it rotates that refresh token.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if currentRefreshToken != "" {
		old, ok := s.refreshTokens[currentRefreshToken]
		if !ok || s.now().After(old.expiry) {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refreshTokens, currentRefreshToken)
		delete(s.accessTokens, old.accessID)
	}
	if len(s.refreshTokens) >= MaxPending {
		return "", "", time.Time{}, errTooMany
	}
	rt := &refreshToken{token: randomID(), subject: req.GetSubject(), audience: slices.Clone(req.GetAudience()),
		scopes: slices.Clone(req.GetScopes()), expiry: s.now().Add(RefreshTokenLifetime)}
	if info, ok := req.(tokenInfo); ok {
		rt.clientID, rt.amr, rt.authTime = info.GetClientID(), slices.Clone(info.GetAMR()), info.GetAuthTime()
	}
	at, err := s.newAccessToken(req, rt.token)
	if err != nil {
		return "", "", time.Time{}, err
	}
	rt.accessID = at.id
	s.refreshTokens[rt.token] = rt
	return at.id, rt.token, at.expiry, nil
}

// TokenRequestByRefreshToken returns the sign-in a refresh token continues.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok || s.now().After(t.expiry) {
		return nil, op.ErrInvalidRefreshToken
	}
	c := *t
	c.scopes, c.amr, c.audience = slices.Clone(t.scopes), slices.Clone(t.amr), slices.Clone(t.audience)
	return &refreshTokenRequest{t: c}, nil
}

// TerminateSession drops every token of userID for clientID (end_session).
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.accessTokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if t.subject == userID && t.clientID == clientID {
			delete(s.refreshTokens, id)
		}
	}
	return nil
}

// GetRefreshTokenInfo tells the revocation endpoint whose refresh token this is.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, t.token, nil
}

// RevokeToken removes an access token (by id) or a refresh token with its access token.
func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.accessTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	if t, ok := s.refreshTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refreshTokens, tokenOrID)
		delete(s.accessTokens, t.accessID)
	}
	// RFC 7009: an unknown token is not an error.
	return nil
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

// SetUserinfoFromScopes does nothing; SetUserinfoFromRequest fills the ID token.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

// SetUserinfoFromToken fills the userinfo endpoint's answer for an access token.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || s.now().After(t.expiry) {
		return errors.New("devidp: access token invalid or expired")
	}
	return s.setUserinfo(info, t.subject, t.scopes)
}

// SetIntrospectionFromToken answers the introspection endpoint.
func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || s.now().After(t.expiry) || !slices.Contains(t.audience, clientID) {
		return errors.New("devidp: token inactive for this client")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, t.subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope, resp.ClientID, resp.Expiration = t.scopes, t.clientID, oidc.FromTime(t.expiry)
	return nil
}

// setUserinfo fills the user claims the scopes ask for; groups always.
func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	u, ok := s.dir.bySubject[subject]
	if !ok {
		return fmt.Errorf("devidp: unknown subject %q", subject)
	}
	info.Subject = subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, true
		case oidc.ScopeProfile:
			info.Name, info.PreferredUsername = u.Name, u.username()
		}
	}
	groups := slices.Clone(u.Groups)
	if groups == nil {
		groups = []string{}
	}
	info.AppendClaims("groups", groups)
	return nil
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

// StoreDeviceAuthorization records a new device authorization.
func (s *storage) StoreDeviceAuthorization(_ context.Context, clientID, deviceCode, userCode string, expires time.Time, scopes []string) error {
	if clientID != s.client.id {
		return fmt.Errorf("devidp: unknown client %q", clientID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(s.now())
	key := normalizeUserCode(userCode)
	if _, dup := s.userCodes[key]; dup {
		return op.ErrDuplicateUserCode
	}
	if len(s.devices) >= MaxPending {
		return errTooMany
	}
	s.devices[deviceCode] = &deviceEntry{userCode: userCode, state: op.DeviceAuthorizationState{
		ClientID: clientID, Scopes: slices.Clone(scopes), Expires: expires}}
	s.userCodes[key] = deviceCode
	return nil
}

// GetDeviceAuthorizatonState returns a copy of the state; an approved
// device code is used up by this call, so it yields tokens once.
func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.devices[deviceCode]
	if !ok || e.state.ClientID != clientID {
		return nil, errors.New("devidp: device code not found for this client")
	}
	st := e.state
	st.Scopes, st.AMR, st.Audience = slices.Clone(e.state.Scopes), slices.Clone(e.state.AMR), slices.Clone(e.state.Audience)
	if st.Done || st.Denied {
		delete(s.devices, deviceCode)
		delete(s.userCodes, normalizeUserCode(e.userCode))
	}
	return &st, nil
}

// pendingDevice returns the pending device authorization of a user code.
// The caller holds s.mu.
func (s *storage) pendingDevice(userCode string) (*deviceEntry, error) {
	e, ok := s.devices[s.userCodes[normalizeUserCode(userCode)]]
	if !ok || e.state.Done || e.state.Denied || s.now().After(e.state.Expires) {
		return nil, ErrUnknownUserCode
	}
	return e, nil
}

// checkUserCode tells whether a user code is pending, for the user-code page.
func (s *storage) checkUserCode(userCode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.pendingDevice(userCode)
	return err
}

// completeDevice approves a device authorization as user u.
func (s *storage) completeDevice(userCode string, u User, amr []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.pendingDevice(userCode)
	if err != nil {
		return err
	}
	e.state.Done, e.state.Subject, e.state.AMR, e.state.AuthTime = true, u.subject(), amr, s.now()
	return nil
}
