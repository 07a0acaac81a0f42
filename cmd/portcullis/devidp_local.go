package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// localIssuer answers the requests for the development identity provider this CM serves itself
// from its handler, in process, and passes every other request on. The CM discovers its
// identity provider before it serves: over the network, a CM with --dev-idp would wait for its
// own listener until discovery timed out (10 s at every start).
type localIssuer struct {
	// issuer is the provider's URL; requests for it and under it are answered by h.
	issuer string
	h      http.Handler
	next   http.RoundTripper
}

// withLocalIssuer returns c with its requests for issuer answered by h in process.
func withLocalIssuer(c *http.Client, issuer string, h http.Handler) *http.Client {
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out := *c
	out.Transport = localIssuer{issuer: strings.TrimSuffix(issuer, "/"), h: h, next: next}
	return &out
}

func (t localIssuer) RoundTrip(r *http.Request) (*http.Response, error) {
	if u := r.URL.String(); u != t.issuer && !strings.HasPrefix(u, t.issuer+"/") {
		return t.next.RoundTrip(r)
	}
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = r.URL.RequestURI()
	w := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(w, in)
	return &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), ContentLength: int64(w.body.Len()), Request: r,
	}, nil
}

// bufferedResponse is an http.ResponseWriter that keeps the response in memory.
type bufferedResponse struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(status int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = status, true
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.body.Write(b)
}
