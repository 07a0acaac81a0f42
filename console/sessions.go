package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/api"
)

// opCreateLock is the API operation of the Lock forms.
const opCreateLock = "locks.create"

// sessionsView is the Sessions page's data.
type sessionsView struct {
	Sessions []sessionRow
	CanLock  bool
	CSRF     string
	// Cursor is the page's cursor ("" on the first page); Older links the next page ("" on
	// the last) and Rows the page's rows, which the script reloads.
	Cursor, Older, Rows string
	// Now is the server's time of the page: the script counts the time left from it.
	Now time.Time
}

// sessionRow is a live session and its time left.
type sessionRow struct {
	api.Session
	Limit    sessionLimit
	TimeLeft string
}

// sessionsPage is how many live sessions a page of the Sessions page lists.
const sessionsPage = 500

// liveSessions reads a page of the live sessions, the one after the request's cursor (an API
// call, recorded).
func (c *Console) liveSessions(r *http.Request, u user) (sessionsView, *apiError) {
	var ss []api.Session
	cursor := r.URL.Query().Get(api.QueryCursor)
	q := url.Values{"live": {"true"}, api.QueryLimit: {strconv.Itoa(sessionsPage)}}
	if cursor != "" {
		q.Set(api.QueryCursor, cursor)
	}
	next, e := c.callPage(r, u, api.PathSessions, q, &ss)
	if e != nil {
		return sessionsView{}, e
	}
	now := c.cfg.Now()
	rows, reads := make([]sessionRow, len(ss)), maxLimitReads
	for i, s := range ss {
		l := c.limitOf(r, u, s, &reads)
		rows[i] = sessionRow{Session: s, Limit: l, TimeLeft: timeLeft(l, now)}
	}
	v := sessionsView{Sessions: rows, CanLock: c.cfg.API.Allows(r.Context(), u.claims, opCreateLock), CSRF: u.sess.csrf, Now: now,
		Cursor: cursor, Rows: Prefix + "/sessions/rows"}
	if cursor != "" {
		v.Rows += "?" + url.Values{api.QueryCursor: {cursor}}.Encode()
	}
	if next != "" {
		v.Older = Prefix + "/sessions?" + url.Values{api.QueryCursor: {next}}.Encode()
	}
	return v, nil
}

func (c *Console) handleSessions(w http.ResponseWriter, r *http.Request, u user) {
	v, e := c.liveSessions(r, u)
	if e != nil {
		c.refused(w, r, u, "sessions", e)
		return
	}
	msg := ""
	switch r.URL.Query().Get("locked") {
	case "":
	case "0":
		msg = "Lock created."
	default:
		msg = "Lock created; it ended " + r.URL.Query().Get("locked") + " live session(s)."
	}
	c.render(w, r, http.StatusOK, "sessions", &u, page{Title: "Live sessions", Nav: "sessions", Message: msg, Data: v})
}

// handleSessionRows answers the Sessions page's script: the table's rows alone.
func (c *Console) handleSessionRows(w http.ResponseWriter, r *http.Request, u user) {
	v, e := c.liveSessions(r, u)
	if e != nil {
		w.WriteHeader(e.status)
		return
	}
	c.render(w, r, http.StatusOK, "sessionrows", &u, page{Data: v})
}

// handleLock creates a lock from the Lock form through the API (POST /v1/locks), which
// decides, records and ends the sessions it stops.
func (c *Console) handleLock(w http.ResponseWriter, r *http.Request, u user) {
	req := api.LockRequest{Reason: r.PostFormValue("reason")}
	target := strings.TrimSpace(r.PostFormValue("target"))
	switch r.PostFormValue("kind") {
	case "user":
		req.User = target
	case "host":
		req.Host = target
	case "session":
		req.Session = target
	default:
		c.fail(w, r, http.StatusBadRequest, "A lock is on a user, a host or a session.")
		return
	}
	if ttl := strings.TrimSpace(r.PostFormValue("ttl_minutes")); ttl != "" {
		n, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil || n < 0 || n > 1<<20 {
			c.fail(w, r, http.StatusBadRequest, "The time to live is a number of minutes (0 or empty: until removed).")
			return
		}
		req.TTLSeconds = n * 60
	}
	var l api.Lock
	if e := c.call(r, u, http.MethodPost, api.PathLocks, nil, req, &l); e != nil {
		c.refused(w, r, u, "sessions", e)
		return
	}
	http.Redirect(w, r, Prefix+"/sessions?locked="+strconv.Itoa(l.EndedCount), http.StatusSeeOther)
}

// handleSession shows one session record (GET /v1/sessions/{id}), live or ended.
func (c *Console) handleSession(w http.ResponseWriter, r *http.Request, u user) {
	var s api.Session
	if e := c.call(r, u, http.MethodGet, api.PathSessions+"/"+url.PathEscape(r.PathValue("id")), nil, nil, &s); e != nil {
		c.refused(w, r, u, "sessions", e)
		return
	}
	c.render(w, r, http.StatusOK, "session", &u, page{Title: "Session " + s.ID, Nav: "sessions", Data: s})
}
