package console

import (
	"net/http"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
)

func (c *Console) handlePolicy(w http.ResponseWriter, r *http.Request, u user) {
	var st policy.Status
	if e := c.call(r, u, http.MethodGet, api.PathPolicyStatus, nil, nil, &st); e != nil {
		c.refused(w, r, u, "policy", e)
		return
	}
	c.render(w, r, http.StatusOK, "policy", &u, page{Title: "Policy", Nav: "policy", Data: st})
}
