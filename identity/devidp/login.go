package devidp

import (
	"context"
	"errors"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// Paths of the login pages, relative to the issuer path.
const (
	pathLogin  = "/login"
	pathDevice = "/device"
)

// Form field names of the login pages.
const (
	formAuthRequestID = "authRequestID"
	formUserCode      = "user_code"
	formUsername      = "username"
	formPassword      = "password"
	formOTP           = "otp"
)

// maxFormBytes bounds a posted login form (64 KiB).
const maxFormBytes = 64 << 10

// loginPage is the one HTML page of the provider: the login form of the code
// flow, the same form with a user-code field for the device flow, and the
// result of a device approval. Elements with id "error" and "signed-in" carry
// the outcome for people and for SubmitDeviceLogin.
const loginPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis development sign-in</title>
<style>
body { font-family: system-ui, sans-serif; background: #f4f4f6; margin: 0; }
main { max-width: 24rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
label { display: block; margin: 1rem 0 0.25rem; }
input { width: 100%; box-sizing: border-box; padding: 0.5rem; font-size: 1rem; }
button { margin-top: 1.5rem; width: 100%; padding: 0.6rem; font-size: 1rem; }
.note { color: #666; font-size: 0.85rem; }
.error { color: #a00; }
.ok { color: #060; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p class="note">Development identity provider: never use it to protect anything real.</p>
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .Message}}<p class="ok" id="signed-in">{{.Message}}</p>{{else}}
<form method="post" action="{{.Action}}">
{{if .AuthRequestID}}<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">{{end}}
{{if .Device}}<label for="user_code">Code shown on your device</label>
<input id="user_code" name="user_code" value="{{.UserCode}}" autocomplete="off" required>{{end}}
<label for="username">Email or username</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required>
<label for="otp">One-time code (if you have a second factor)</label>
<input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code">
<button type="submit">Sign in</button>
</form>{{end}}
</main>
</body>
</html>
`

// pageData fills loginPage.
type pageData struct {
	Title         string
	Action        string
	AuthRequestID string
	Device        bool
	UserCode      string
	Error         string
	Message       string
}

// render writes the page with security headers and the given status.
func (p *Provider) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := p.page.Execute(w, d); err != nil {
		p.log.Error("render login page", "err", err)
	}
}

func (p *Provider) loginData(id string) pageData {
	return pageData{Title: "Sign in", Action: p.path + pathLogin, AuthRequestID: id}
}

func (p *Provider) deviceData(userCode string) pageData {
	return pageData{Title: "Approve a device", Action: p.path + pathDevice, Device: true, UserCode: userCode}
}

// showLogin shows the code flow's login form for the auth request in the query.
func (p *Provider) showLogin(w http.ResponseWriter, r *http.Request) {
	d := p.loginData(r.URL.Query().Get(formAuthRequestID))
	if d.AuthRequestID == "" {
		d.Error = errLoginRequest.Error()
		p.render(w, http.StatusBadRequest, d)
		return
	}
	p.render(w, http.StatusOK, d)
}

// submitLogin checks the code flow's login form and returns the browser to
// the OpenID Provider's callback, which redirects to the client with a code.
func (p *Provider) submitLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, pageData{Title: "Sign in", Error: "the form could not be read"})
		return
	}
	d := p.loginData(r.PostForm.Get(formAuthRequestID))
	if d.AuthRequestID == "" {
		d.Error = errLoginRequest.Error()
		p.render(w, http.StatusBadRequest, d)
		return
	}
	u, amr, err := p.signIn(r.Context(), "code", r.PostForm.Get(formUsername), r.PostForm.Get(formPassword), r.PostForm.Get(formOTP))
	if err == nil {
		err = p.store.completeLogin(d.AuthRequestID, u, amr)
	}
	if err != nil {
		d.Error = err.Error()
		p.render(w, statusOf(err), d)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, d.AuthRequestID), http.StatusFound)
}

// showDevice shows the user-code page: the login form with the code field,
// filled from the verification_uri_complete query when present.
func (p *Provider) showDevice(w http.ResponseWriter, r *http.Request) {
	d := p.deviceData(r.URL.Query().Get(formUserCode))
	if d.UserCode != "" {
		if err := p.store.checkUserCode(d.UserCode); err != nil {
			d.Error = err.Error()
			p.render(w, statusOf(err), d)
			return
		}
	}
	p.render(w, http.StatusOK, d)
}

// submitDevice approves the device authorization of the posted user code as
// the person who signs in with the form.
func (p *Provider) submitDevice(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, pageData{Title: "Approve a device", Error: "the form could not be read"})
		return
	}
	d := p.deviceData(r.PostForm.Get(formUserCode))
	u, err := p.approveDevice(r.Context(), d.UserCode, r.PostForm.Get(formUsername), r.PostForm.Get(formPassword), r.PostForm.Get(formOTP))
	if err != nil {
		d.Error = err.Error()
		p.render(w, statusOf(err), d)
		return
	}
	d.Message = "Signed in as " + u.Email + ". The device is approved; you can close this page."
	p.render(w, http.StatusOK, d)
}

// ApproveDevice approves the pending device authorization of userCode as the
// person who signs in with login (email or username), password and otp ("" for
// none), exactly as the user-code page does. It fails with ErrUnknownUserCode,
// ErrBadCredentials or ErrBadOTP. SubmitDeviceLogin does the same over HTTP.
func (p *Provider) ApproveDevice(ctx context.Context, userCode, login, password, otp string) error {
	_, err := p.approveDevice(ctx, userCode, login, password, otp)
	return err
}

func (p *Provider) approveDevice(ctx context.Context, userCode, login, password, otp string) (User, error) {
	if err := p.store.checkUserCode(userCode); err != nil {
		return User{}, err
	}
	u, amr, err := p.signIn(ctx, "device", login, password, otp)
	if err != nil {
		return User{}, err
	}
	return u, p.store.completeDevice(userCode, u, amr)
}

// signIn checks credentials and logs the outcome (never the password).
func (p *Provider) signIn(ctx context.Context, flow, login, password, otp string) (User, []string, error) {
	u, amr, err := p.store.dir.authenticate(login, password, otp)
	if err != nil {
		p.log.InfoContext(ctx, "sign-in refused", "flow", flow, "user", login, "reason", err)
		return User{}, nil, err
	}
	p.log.InfoContext(ctx, "signed in", "flow", flow, "user", u.Email, "amr", amr)
	return u, amr, nil
}

// statusOf maps a sign-in failure to the HTTP status of the page showing it.
func statusOf(err error) int {
	if errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrBadOTP) {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}
