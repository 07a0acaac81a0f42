package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// bundleFetchTimeout bounds one download of a bundle from a bundle service.
const bundleFetchTimeout = 10 * time.Second

// isBundleURL reports whether a configured bundle is a bundle service's URL rather than a file.
func isBundleURL(bundle string) bool {
	return strings.HasPrefix(bundle, "https://") || strings.HasPrefix(bundle, "http://")
}

// validateBundleURL refuses a bundle URL that is not HTTPS or does not parse.
func validateBundleURL(bundle string) error {
	u, err := url.Parse(bundle)
	switch {
	case err != nil:
		return fmt.Errorf("policy: bundle URL: %w", err)
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("policy: bundle URL %q: want https://HOST/PATH", u.Redacted())
	}
	return nil
}

// redactURL is the bundle's location as Status and the log show it: a URL without its
// password.
func redactURL(bundle string) string {
	if u, err := url.Parse(bundle); err == nil && isBundleURL(bundle) {
		return u.Redacted()
	}
	return bundle
}

// bundleFetcher downloads a bundle from a bundle service (OPA's bundle protocol: GET the
// bundle's URL), sending the last download's ETag as If-None-Match, so that an unchanged
// bundle costs the service and the CM a 304 and no body. Its state is guarded by the Manager's
// reload lock.
type bundleFetcher struct {
	url    string
	client *http.Client
	// etag and last are the ETag and the body of the last 200 answer.
	etag string
	last []byte
}

// fetch returns the bundle's bytes: the new body, or the last one when the service answers
// 304 Not Modified.
func (f *bundleFetcher) fetch(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, bundleFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, err
	}
	if f.etag != "" && f.last != nil {
		req.Header.Set("If-None-Match", f.etag)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		if f.last == nil {
			return nil, errors.New("the bundle service answered 304 Not Modified to a first download")
		}
		return f.last, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("the bundle service answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the bundle: %w", err)
	}
	if len(body) > maxBundleBytes {
		return nil, fmt.Errorf("the bundle is larger than %d bytes", maxBundleBytes)
	}
	f.etag, f.last = resp.Header.Get("ETag"), body
	return body, nil
}
