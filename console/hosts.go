package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/portcullis/portcullis/api"
)

// hostsPage is how many Hosts a page of the Hosts page lists.
const hostsPage = 500

// hostsView is the Hosts and relays page's data.
type hostsView struct {
	Hosts  []api.HostInfo
	Relays []api.RelayInfo
	// Cursor is the page's cursor ("" on the first page); Next links the next page of Hosts
	// ("" on the last).
	Cursor, Next string
}

// handleHosts shows a page of the Hosts, by name, the one after the request's cursor, and the
// relays (API calls, recorded).
func (c *Console) handleHosts(w http.ResponseWriter, r *http.Request, u user) {
	v := hostsView{Cursor: r.URL.Query().Get(api.QueryCursor)}
	q := url.Values{api.QueryLimit: {strconv.Itoa(hostsPage)}}
	if v.Cursor != "" {
		q.Set(api.QueryCursor, v.Cursor)
	}
	next, e := c.callPage(r, u, api.PathHosts, q, &v.Hosts)
	if e != nil {
		c.refused(w, r, u, "hosts", e)
		return
	}
	if next != "" {
		v.Next = Prefix + "/hosts?" + url.Values{api.QueryCursor: {next}}.Encode()
	}
	if e := c.call(r, u, http.MethodGet, api.PathRelays, nil, nil, &v.Relays); e != nil {
		c.refused(w, r, u, "hosts", e)
		return
	}
	c.render(w, r, http.StatusOK, "hosts", &u, page{Title: "Hosts and relays", Nav: "hosts", Data: v})
}
