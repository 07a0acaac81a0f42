package console

import (
	"net/http"

	"github.com/portcullis/portcullis/api"
)

// hostsView is the Hosts and relays page's data.
type hostsView struct {
	Hosts  []api.HostInfo
	Relays []api.RelayInfo
}

func (c *Console) handleHosts(w http.ResponseWriter, r *http.Request, u user) {
	var v hostsView
	if e := c.call(r, u, http.MethodGet, api.PathHosts, nil, nil, &v.Hosts); e != nil {
		c.refused(w, r, u, "hosts", e)
		return
	}
	if e := c.call(r, u, http.MethodGet, api.PathRelays, nil, nil, &v.Relays); e != nil {
		c.refused(w, r, u, "hosts", e)
		return
	}
	c.render(w, r, http.StatusOK, "hosts", &u, page{Title: "Hosts and relays", Nav: "hosts", Data: v})
}
