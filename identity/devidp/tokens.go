package devidp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// accessToken is an opaque access token the provider issued, with what it grants.
type accessToken struct {
	id        string
	clientID  string
	subject   string
	refreshID string
	audience  []string
	scopes    []string
	expiry    time.Time
}

// refreshToken is a refresh token and the sign-in it continues.
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
