package devidp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// maxPageBytes bounds a page read by SubmitDeviceLogin (1 MiB).
const maxPageBytes = 1 << 20

// ErrLoginRefused: the provider's page did not approve the device; the
// error's text carries the reason the page showed.
var ErrLoginRefused = errors.New("devidp: device sign-in refused")

// SubmitDeviceLogin approves a pending device authorization the way a person
// does in a browser: it opens verificationURI with the user code, reads the
// HTML form it is given, fills in the code, email, password and one-time
// code (otp may be ""), and posts the form. It returns nil once the page
// confirms the approval, and an error wrapping ErrLoginRefused with the
// page's reason otherwise. client carries the TLS trust for the provider;
// nil means http.DefaultClient.
func SubmitDeviceLogin(ctx context.Context, client *http.Client, verificationURI, userCode, email, password, otp string) error {
	if client == nil {
		client = http.DefaultClient
	}
	pageURL, err := url.Parse(verificationURI)
	if err != nil {
		return fmt.Errorf("devidp: verification URI %q: %w", verificationURI, err)
	}
	q := pageURL.Query()
	q.Set(formUserCode, userCode)
	pageURL.RawQuery = q.Encode()
	page, err := fetch(ctx, client, http.MethodGet, pageURL, nil)
	if err != nil {
		return err
	}
	form, err := page.form(pageURL, formUserCode)
	if err != nil {
		return err
	}
	form.Fields.Set(formUserCode, userCode)
	return submitForm(ctx, client, form, email, password, otp)
}

// SubmitBrowserLogin does in place of a person's browser what the authorization code flow
// asks of it: it opens authURL (the authorization request a client such as
// identity.BrowserLogin shows), follows the provider's redirects to its login form, fills in
// email, password and one-time code (otp may be ""), posts the form and follows the
// provider's redirect back to the client's loopback redirect URI. It returns nil once the
// client's page confirms the sign-in (an element with id "signed-in"), and an error wrapping
// ErrLoginRefused with the reason shown otherwise. client carries the TLS trust for the
// provider and must follow redirects (the default); nil means http.DefaultClient.
func SubmitBrowserLogin(ctx context.Context, client *http.Client, authURL, email, password, otp string) error {
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return fmt.Errorf("devidp: authorization URL: %w", err)
	}
	page, err := fetch(ctx, client, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	form, err := page.form(page.URL, formAuthRequestID)
	if err != nil {
		return err
	}
	return submitForm(ctx, client, form, email, password, otp)
}

// submitForm fills in the credentials, posts the form and checks the page it ends on.
func submitForm(ctx context.Context, client *http.Client, form submission, email, password, otp string) error {
	form.Fields.Set(formUsername, email)
	form.Fields.Set(formPassword, password)
	form.Fields.Set(formOTP, otp)
	result, err := fetch(ctx, client, form.Method, form.Action, form.Fields)
	if err != nil {
		return err
	}
	if result.SignedIn == "" {
		return fmt.Errorf("%w: %s (HTTP %d)", ErrLoginRefused, result.reason("the page did not confirm the sign-in"), result.Status)
	}
	return nil
}

// loginPageView is what SubmitDeviceLogin reads from one of the provider's pages.
type loginPageView struct {
	Status   int
	Action   string     // the form's action attribute, "" when there is no form
	Method   string     // the form's method, upper case; GET when absent
	Fields   url.Values // the form's named input fields with their values
	HasForm  bool
	Error    string   // text of the element with id "error"
	SignedIn string   // text of the element with id "signed-in"
	URL      *url.URL // where the page was finally served from, after redirects
}

// submission is a form ready to send.
type submission struct {
	Method string
	Action *url.URL
	Fields url.Values
}

// form checks that the page offers a login form with the field named need and
// resolves its action against the page's URL; the form must post to the same origin.
func (v loginPageView) form(pageURL *url.URL, need string) (submission, error) {
	if v.Status != http.StatusOK || !v.HasForm {
		return submission{}, fmt.Errorf("%w: %s (HTTP %d)", ErrLoginRefused, v.reason("the page has no sign-in form"), v.Status)
	}
	if _, ok := v.Fields[need]; !ok {
		return submission{}, fmt.Errorf("devidp: the form at %s has no %s field", pageURL.Redacted(), need)
	}
	action, err := pageURL.Parse(v.Action)
	if err != nil {
		return submission{}, fmt.Errorf("devidp: form action %q: %w", v.Action, err)
	}
	if action.Scheme != pageURL.Scheme || action.Host != pageURL.Host {
		return submission{}, fmt.Errorf("devidp: the form posts to %s, another origin than %s", action.Host, pageURL.Host)
	}
	return submission{Method: v.Method, Action: action, Fields: v.Fields}, nil
}

func (v loginPageView) reason(fallback string) string {
	if v.Error != "" {
		return v.Error
	}
	return fallback
}

// fetch sends one request (a form when fields is not nil) and reads the page.
func fetch(ctx context.Context, client *http.Client, method string, u *url.URL, fields url.Values) (loginPageView, error) {
	var body io.Reader
	target := *u
	if fields != nil && method == http.MethodPost {
		body = strings.NewReader(fields.Encode())
	} else if fields != nil {
		target.RawQuery = fields.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), body)
	if err != nil {
		return loginPageView{}, fmt.Errorf("devidp: %s %s: %w", method, u.Redacted(), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		return loginPageView{}, fmt.Errorf("devidp: %s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return loginPageView{}, fmt.Errorf("devidp: read %s: %w", u.Redacted(), err)
	}
	if len(data) > maxPageBytes {
		return loginPageView{}, fmt.Errorf("devidp: page %s is larger than %d bytes", u.Redacted(), maxPageBytes)
	}
	v, err := parseLoginPage(data)
	if err != nil {
		return loginPageView{}, fmt.Errorf("devidp: page %s: %w", u.Redacted(), err)
	}
	v.Status = resp.StatusCode
	v.URL = resp.Request.URL
	return v, nil
}

// parseLoginPage reads the first form (its action, method and named inputs)
// and the texts of the elements with ids "error" and "signed-in".
func parseLoginPage(data []byte) (loginPageView, error) {
	doc, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		return loginPageView{}, fmt.Errorf("parse HTML: %w", err)
	}
	v := loginPageView{Method: http.MethodGet, Fields: url.Values{}}
	var form *html.Node
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch id := attr(n, "id"); {
		case id == "error" && v.Error == "":
			v.Error = text(n)
		case id == "signed-in" && v.SignedIn == "":
			v.SignedIn = text(n)
		}
		switch {
		case n.Data == "form" && form == nil:
			form, v.HasForm = n, true
			v.Action = attr(n, "action")
			if m := strings.ToUpper(attr(n, "method")); m == http.MethodPost {
				v.Method = m
			}
		case (n.Data == "input" || n.Data == "textarea") && form != nil && isInside(n, form):
			if name := attr(n, "name"); name != "" {
				v.Fields.Set(name, attr(n, "value"))
			}
		}
	}
	return v, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func isInside(n, ancestor *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p == ancestor {
			return true
		}
	}
	return false
}
