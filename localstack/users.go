package localstack

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
)

// User is a signed-in user: a config directory holding their cached tokens and key-bound
// credential, and an HTTP client that presents that credential.
type User struct {
	Email     string
	ConfigDir string
	IDToken   string
	// Client presents the user's client certificate to the CM; use it with IDToken.
	Client *http.Client
}

// Login signs a user in through the development identity provider with the device flow,
// answering the provider's login form over HTTP as the user would in a browser, caches the
// tokens where the CLI finds them, and obtains the user's key-bound credential.
func (s *Stack) Login(ctx context.Context, email, password, otp string) (User, error) {
	var ac api.AuthConfig
	if err := api.Call(ctx, s.http, http.MethodGet, s.CMURL+api.PathAuthConfig, "", nil, &ac); err != nil {
		return User{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	approved := make(chan error, 1)
	login := identity.DeviceLogin{
		Config: identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, Scopes: ac.Scopes, HTTPClient: s.http},
		Prompt: func(uri, code string) {
			go func() { approved <- devidp.SubmitDeviceLogin(ctx, s.http, uri, code, email, password, otp) }()
		},
	}
	tok, err := login.Run(ctx)
	if err != nil {
		select {
		case aerr := <-approved:
			return User{}, errors.Join(err, aerr)
		default:
			return User{}, err
		}
	}
	u := User{Email: email, ConfigDir: filepath.Join(s.opts.Dir, "users", email), IDToken: tok.IDToken}
	if err := (identity.TokenCache{Dir: u.ConfigDir}).Save(s.CMURL, tok); err != nil {
		return User{}, err
	}
	return s.withCredential(ctx, u)
}

// withCredential obtains u's key-bound credential and the client that presents it.
func (s *Stack) withCredential(ctx context.Context, u User) (User, error) {
	cred, _, err := (guest.CredentialStore{Dir: u.ConfigDir}).Obtain(ctx, s.http, s.CMURL, u.IDToken)
	if err != nil {
		return User{}, err
	}
	u.Client = (&guest.Client{RootCAs: s.pool, Credential: cred}).HTTPClient()
	return u, nil
}

// Signed returns u's client and ID token as the CLI would use them now, after the CLI (for
// example `portcullis login`) changed the cached credentials in u.ConfigDir.
func (s *Stack) Signed(u User) (User, error) {
	tok, err := (identity.TokenCache{Dir: u.ConfigDir}).Load(s.CMURL)
	if err != nil {
		return User{}, err
	}
	cred, _, err := (guest.CredentialStore{Dir: u.ConfigDir}).Load(s.CMURL)
	if err != nil {
		return User{}, err
	}
	u.IDToken = tok.IDToken
	u.Client = (&guest.Client{RootCAs: s.pool, Credential: cred}).HTTPClient()
	return u, nil
}

// Guest returns the command line of a Guest command run as u, e.g. Guest(ctx, u, "exec",
// "db-1", "--", "true").
func (s *Stack) Guest(ctx context.Context, u User, args ...string) *exec.Cmd {
	return s.GuestAt(ctx, u, s.CMURL, args...)
}

// Decision reads a decision record as u.
func (s *Stack) Decision(ctx context.Context, u User, id string) (api.Decision, error) {
	var d api.Decision
	err := api.Call(ctx, u.Client, http.MethodGet, s.CMURL+api.PathDecisions+"/"+id, u.IDToken, nil, &d)
	return d, err
}
