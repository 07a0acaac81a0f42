package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// pageNames are the templates of templates/<name>.html, each rendered inside layout.html.
var pageNames = []string{"signin", "signedin", "error", "decisions", "decision", "sessions", "session", "hosts", "policy"}

// page is what every template sees.
type page struct {
	Title string
	// Nav is the menu entry to mark as current.
	Nav string
	// User is the signed-in user's name; "" on the sign-in pages.
	User string
	// CSRF is the session's CSRF token for the page's forms.
	CSRF string
	// Message is a notice shown at the top (a lock made, a sign-out).
	Message string
	// Error is a refusal or failure shown instead of the data.
	Error *errorView
	// Data is the page's own.
	Data any
}

// errorView is a refusal as a page shows it.
type errorView struct {
	Status     int
	Heading    string
	Message    string
	Reasons    []string
	DecisionID string
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"pretty": func(v any) string {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return fmt.Sprint(v)
			}
			return string(b)
		},
		"join":    strings.Join,
		"rfc3339": func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") },
		"deref": func(t *time.Time) time.Time {
			if t == nil {
				return time.Time{}
			}
			return *t
		},
		"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	}
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html", "templates/rows.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes a page; u is nil on the pages shown before sign-in.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, u *user, p page) {
	if u != nil {
		p.User, p.CSRF = u.claims.Subject, u.sess.csrf
	}
	var buf bytes.Buffer
	root := "layout.html"
	if name == "sessionrows" {
		name, root = "sessions", "rows"
	}
	if err := c.pages[name].ExecuteTemplate(&buf, root, p); err != nil {
		c.cfg.Logger.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page cannot be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if start, ok := r.Context().Value(startKey{}).(time.Time); ok {
		w.Header().Set("Server-Timing", fmt.Sprintf("page;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page with a message.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	u, err := c.user(r)
	var up *user
	if err == nil {
		up = &u
	}
	c.render(w, r, status, "error", up, page{Title: http.StatusText(status), Error: &errorView{Status: status, Heading: http.StatusText(status), Message: msg}})
}

// refused shows an API call's refusal: a "not allowed" page for the policy's, with its reasons
// and the record of the refusal.
func (c *Console) refused(w http.ResponseWriter, r *http.Request, u user, nav string, e *apiError) {
	v := &errorView{Status: e.status, Heading: http.StatusText(e.status), Message: e.err.Message, Reasons: e.err.Reasons, DecisionID: e.err.DecisionID}
	if e.status == http.StatusForbidden {
		v.Heading = "Not allowed"
	}
	c.render(w, r, e.status, "error", &u, page{Title: v.Heading, Nav: nav, Error: v})
}
