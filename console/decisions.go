package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis/portcullis/api"
)

// logPageSize is how many records a decision log page shows.
const logPageSize = 50

// logFilter is the decision log form.
type logFilter struct {
	User, Host, Outcome, Since, Until, Reason, ID string
}

// filterOf reads the form of the decision log page.
func filterOf(q url.Values) logFilter {
	return logFilter{
		User: q.Get("user"), Host: q.Get("host"), Outcome: q.Get("outcome"), Since: q.Get("since"),
		Until: q.Get("until"), Reason: q.Get("reason"), ID: strings.TrimSpace(q.Get("id")),
	}
}

// query is the filter as the API's query; a time it cannot read is a requestError-like message.
func (f logFilter) query() (url.Values, string) {
	q := url.Values{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			q.Set(k, v)
		}
	}
	set(api.QuerySubject, f.User)
	set(api.QueryHost, f.Host)
	set(api.QueryReason, f.Reason)
	switch f.Outcome {
	case "allow":
		q.Set(api.QueryAllow, "true")
	case "deny":
		q.Set(api.QueryAllow, "false")
	case "":
	default:
		return nil, "outcome must be allow, deny or empty"
	}
	for _, t := range []struct{ name, v string }{{api.QuerySince, f.Since}, {api.QueryUntil, f.Until}} {
		if strings.TrimSpace(t.v) == "" {
			continue
		}
		at, ok := parseTime(t.v)
		if !ok {
			return nil, t.name + " must be a date (2006-01-02), a date and time (2006-01-02T15:04) in UTC, or an RFC 3339 time"
		}
		q.Set(t.name, at.UTC().Format(time.RFC3339Nano))
	}
	return q, ""
}

// parseTime reads a date, a datetime-local value (UTC) or an RFC 3339 time.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// encode is the filter as the console's own query (for links).
func (f logFilter) encode() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"user": f.User, "host": f.Host, "outcome": f.Outcome, "since": f.Since, "until": f.Until, "reason": f.Reason} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// logView is the decision log page's data.
type logView struct {
	Filter              logFilter
	Records             []api.Decision
	Older, CSV, NDJSON  string
	Checkpoint          *checkpointView
	FilterQuery, Cursor string
}

func (c *Console) handleDecisions(w http.ResponseWriter, r *http.Request, u user) {
	f := filterOf(r.URL.Query())
	if f.ID != "" {
		http.Redirect(w, r, Prefix+"/decisions/"+url.PathEscape(f.ID), http.StatusSeeOther)
		return
	}
	q, bad := f.query()
	if bad != "" {
		c.render(w, r, http.StatusBadRequest, "decisions", &u, page{Title: "Decision log", Nav: "decisions", Message: bad, Data: logView{Filter: f}})
		return
	}
	q.Set(api.QueryLimit, "50")
	cursor := r.URL.Query().Get("cursor")
	if cursor != "" {
		q.Set(api.QueryCursor, cursor)
	}
	var pg api.DecisionPage
	if e := c.call(r, u, http.MethodGet, api.PathDecisions, q, nil, &pg); e != nil {
		c.refused(w, r, u, "decisions", e)
		return
	}
	fq := f.encode()
	v := logView{Filter: f, Records: pg.Decisions, FilterQuery: fq.Encode(), Cursor: cursor}
	v.CSV, v.NDJSON = Prefix+"/export/csv?"+fq.Encode(), Prefix+"/export/ndjson?"+fq.Encode()
	if pg.Next != "" {
		older := f.encode()
		older.Set("cursor", pg.Next)
		v.Older = Prefix + "/decisions?" + older.Encode()
	}
	v.Checkpoint = c.checkpoint(r, u)
	c.render(w, r, http.StatusOK, "decisions", &u, page{Title: "Decision log", Nav: "decisions", Data: v})
}

// recordView is a decision record's page.
type recordView struct {
	D          api.Decision
	Session    string
	Relay      string
	RelayWhy   string
	Obligation any
	Proof      *proofView
}

func (c *Console) handleDecision(w http.ResponseWriter, r *http.Request, u user) {
	var body json.RawMessage
	if e := c.call(r, u, http.MethodGet, api.PathDecisions+"/"+url.PathEscape(r.PathValue("id")), nil, nil, &body); e != nil {
		c.refused(w, r, u, "decisions", e)
		return
	}
	var d api.Decision
	if err := json.Unmarshal(body, &d); err != nil {
		c.cfg.Logger.Error("decode a decision record", "err", err)
		http.Error(w, "the record could not be read", http.StatusBadGateway)
		return
	}
	v := recordView{D: d, Session: d.Labels[api.LabelSession], Relay: d.Labels[api.LabelRelay], RelayWhy: d.Labels["relay_reason"]}
	if m, ok := d.Result.(map[string]any); ok {
		v.Obligation = m["obligations"]
	}
	if shown, err := storeRecord(body); err != nil {
		v.Proof = &proofView{Problem: err.Error()}
	} else {
		v.Proof = c.inclusion(r, u, shown)
	}
	c.render(w, r, http.StatusOK, "decision", &u, page{Title: "Decision " + d.ID, Nav: "decisions", Data: v})
}
