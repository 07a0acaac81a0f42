package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/portcullis/portcullis/api"
)

// maxAPIResponse bounds an API answer the console reads.
const maxAPIResponse = api.MaxResponseBytes

// apiResponse is an API answer kept in memory.
type apiResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newAPIResponse() *apiResponse { return &apiResponse{header: http.Header{}} }

func (a *apiResponse) Header() http.Header { return a.header }

func (a *apiResponse) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *apiResponse) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	if a.body.Len()+len(b) > maxAPIResponse {
		return 0, fmt.Errorf("console: API answer exceeds %d bytes", maxAPIResponse)
	}
	return a.body.Write(b)
}

// apiError is an API call that did not succeed: its status and the API's error.
type apiError struct {
	status int
	err    api.Error
}

func (e *apiError) Error() string { return e.err.Message }

// call makes one API call on u's behalf, in-process, and decodes its JSON answer into out
// (nil: not decoded). The API's gate decides and records it like any other call.
func (c *Console) call(r *http.Request, u user, method, path string, query url.Values, body, out any) *apiError {
	_, e := c.serve(r, u, method, path, query, body, out)
	return e
}

// callPage is call for a GET of one page of a listing (GET /v1/sessions): it also returns the
// answer's api.HeaderNextCursor, "" after the last page.
func (c *Console) callPage(r *http.Request, u user, path string, query url.Values, out any) (next string, e *apiError) {
	h, e := c.serve(r, u, http.MethodGet, path, query, nil, out)
	if e != nil {
		return "", e
	}
	return h.Get(api.HeaderNextCursor), nil
}

// serve is call, returning the answer's header too.
func (c *Console) serve(r *http.Request, u user, method, path string, query url.Values, body, out any) (http.Header, *apiError) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &apiError{status: http.StatusInternalServerError, err: api.Error{Message: err.Error()}}
		}
		rd = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(r.Context(), method, target, rd)
	if err != nil {
		return nil, &apiError{status: http.StatusBadRequest, err: api.Error{Message: err.Error()}}
	}
	req.RemoteAddr, req.Host, req.TLS = r.RemoteAddr, r.Host, r.TLS
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res := newAPIResponse()
	c.cfg.API.ServeAs(u.claims, res, req)
	if res.status >= 300 {
		e := &apiError{status: res.status}
		if json.Unmarshal(res.body.Bytes(), &e.err) != nil || e.err.Message == "" {
			e.err.Message = http.StatusText(res.status)
		}
		return nil, e
	}
	if out == nil {
		return res.header, nil
	}
	if err := json.Unmarshal(res.body.Bytes(), out); err != nil {
		return nil, &apiError{status: http.StatusBadGateway, err: api.Error{Message: "the API's answer cannot be read: " + err.Error()}}
	}
	return res.header, nil
}
