package main

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/internal/atomicfile"
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

// devIdPKeyFile is where, in the CM's certificates directory, the development identity
// provider's signing key is kept, so that a restarted CM still accepts the ID tokens it signed.
const devIdPKeyFile = "devidp.key"

// loadDevIdPKey reads the development identity provider's signing key from path, or makes one
// and writes it there (owner-only) when there is none yet. Where the CM may not write (a
// packaged CM's certificates directory belongs to root) it warns and uses the new key unkept:
// sign-ins then last until the CM restarts.
func loadDevIdPKey(path string, log *slog.Logger) (*rsa.PrivateKey, error) {
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := devidp.GenerateSigningKey()
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode the development identity provider's key: %w", err)
		}
		if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			log.Warn("the development identity provider's key is not kept: sign-ins last until the CM restarts", "path", path, "err", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the development identity provider's key: %w", err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s holds no PEM private key: delete it to make a new one (everyone then signs in again)", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	key, ok := parsed.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%s is not an RSA private key (%v): delete it to make a new one (everyone then signs in again)", path, err)
	}
	return key, nil
}
