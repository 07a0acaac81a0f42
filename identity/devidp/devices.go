package devidp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// deviceEntry is one device authorization (RFC 8628): its user code and its state.
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
