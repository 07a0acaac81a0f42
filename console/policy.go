package console

import (
	"net/http"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/policy"
)

// policyView is the Policy page's data: the serving policy and the last impact run.
type policyView struct {
	Status policy.Status
	Impact impactView
}

// policyStatus reads the serving policy's status (an API call, recorded).
func (c *Console) policyStatus(r *http.Request, u user) (policy.Status, *apiError) {
	var st policy.Status
	return st, c.call(r, u, http.MethodGet, api.PathPolicyStatus, nil, nil, &st)
}

func (c *Console) handlePolicy(w http.ResponseWriter, r *http.Request, u user) {
	st, e := c.policyStatus(r, u)
	if e != nil {
		c.refused(w, r, u, "policy", e)
		return
	}
	c.renderPolicy(w, r, u, st, impactView{})
}

func (c *Console) renderPolicy(w http.ResponseWriter, r *http.Request, u user, st policy.Status, v impactView) {
	v.CSRF = u.sess.csrf
	status := http.StatusOK
	if v.Error != "" {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "policy", &u, page{Title: "Policy", Nav: "policy", Data: policyView{Status: st, Impact: v}})
}
