package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/access"
)

// MaxResponseBytes bounds a CM answer a client reads; a longer one is an error, never cut.
const MaxResponseBytes = 1 << 20

// MaxPageBytes bounds the JSON of the records in one page of a list the CM answers in pages
// (GET /v1/decisions): the CM ends a page early, with its cursor, rather than exceed it, so
// that a page of any records fits within MaxResponseBytes.
const MaxPageBytes = MaxResponseBytes * 3 / 4

// ErrResponseTooLarge is the error of an answer longer than MaxResponseBytes.
var ErrResponseTooLarge = errors.New("answer longer than the client reads (1 MiB)")

// StatusError is a non-2xx answer from the CM. It unwraps to the refusal codes of its body
// (the finer Reason first), so errors.Is(err, access.ErrDenied) and access.ExitCode work on it.
type StatusError struct {
	Status int
	Body   Error
}

// Unwrap returns the known refusal codes of the answer.
func (e *StatusError) Unwrap() []error {
	var errs []error
	for _, c := range []access.Code{e.Body.Reason, e.Body.Code} {
		if c.Known() {
			errs = append(errs, c)
		}
	}
	return errs
}

func (e *StatusError) Error() string {
	msg := e.Body.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if len(e.Body.Reasons) > 0 {
		msg += ": " + strings.Join(e.Body.Reasons, "; ")
	}
	if e.Body.DecisionID != "" {
		msg += " (decision " + e.Body.DecisionID + ")"
	}
	return fmt.Sprintf("CM answered %d %s: %s", e.Status, string(e.Body.Code), msg)
}

// Call sends in (if not nil) as JSON with method to url, with bearer as the Authorization
// token when not empty, and decodes a 2xx answer into out (if not nil). A non-2xx answer is a
// *StatusError.
func Call(ctx context.Context, hc *http.Client, method, url, bearer string, in, out any) error {
	_, _, err := call(ctx, hc, method, url, bearer, in, out)
	return err
}

// PageAnswer is what CallPage tells of a page besides its items.
type PageAnswer struct {
	// Next is the answer's HeaderNextCursor, "" after the last page.
	Next string
	// Bytes is the length of the answer's body: how near the page came to MaxPageBytes.
	Bytes int
}

// CallPage is Call for a GET of one page of a listing answered in pages: it also returns the
// answer's next cursor and size.
func CallPage(ctx context.Context, hc *http.Client, url, bearer string, out any) (PageAnswer, error) {
	h, n, err := call(ctx, hc, http.MethodGet, url, bearer, nil, out)
	if err != nil {
		return PageAnswer{}, err
	}
	return PageAnswer{Next: h.Get(HeaderNextCursor), Bytes: n}, nil
}

// call is Call, returning the answer's header and the length of its body too.
func call(ctx context.Context, hc *http.Client, method, url, bearer string, in, out any) (http.Header, int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, 0, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, 0, fmt.Errorf("build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read answer of %s %s: %w", method, url, err)
	}
	if len(data) > MaxResponseBytes {
		return nil, 0, fmt.Errorf("answer of %s %s: %w", method, url, ErrResponseTooLarge)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, &se.Body)
		return nil, 0, se
	}
	if out == nil || len(data) == 0 {
		return resp.Header, len(data), nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, 0, fmt.Errorf("decode answer of %s %s: %w", method, url, err)
	}
	return resp.Header, len(data), nil
}

// AsStatus returns the *StatusError in err's chain, if any.
func AsStatus(err error) (*StatusError, bool) {
	var se *StatusError
	ok := errors.As(err, &se)
	return se, ok
}
