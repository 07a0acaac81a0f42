package guest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/internal/atomicfile"
)

// Probe cache limits.
const (
	// ProbeCacheTTL is how long a Guest probes the relays the CM last named for a Host
	// without asking it again. A relay added since is not probed until then (the CM scores it
	// as unmeasured); one removed is probed in vain (and the CM ignores its figure).
	ProbeCacheTTL = 5 * time.Minute
	// maxProbeCacheBytes bounds a probe cache file read (256 KiB).
	maxProbeCacheBytes = 256 << 10
	// maxProbeCacheHosts bounds the Hosts one file remembers; the oldest are dropped.
	maxProbeCacheHosts = 64
)

// ProbeCache keeps, per Connection Manager and Host, the relays the CM last named for the
// Guest to probe (GET /v1/relays/probes), in a file of the credential directory (mode 0600),
// so that a connect within ProbeCacheTTL skips that request: it is a whole round trip to
// the CM, with a policy evaluation there, before the connect itself. The list is only where
// to measure latency; the CM still chooses the relay and decides everything else.
type ProbeCache struct {
	// Dir is the directory; "" means the token cache's default.
	Dir string
}

// probeCacheFile is the file's content: the relays named for each Host, and when.
type probeCacheFile struct {
	CMURL string                     `json:"cm_url"`
	Hosts map[string]probeCacheEntry `json:"hosts"`
}

type probeCacheEntry struct {
	Fetched time.Time       `json:"fetched"`
	Relays  []api.RelayAddr `json:"relays"`
}

// path returns the cache file for the CM at cmURL.
func (c ProbeCache) path(cmURL string) (string, error) {
	return identity.TokenCache{Dir: c.Dir}.File(cmURL, "relay-probes", ".json")
}

// read returns the file for cmURL; a missing, unreadable or foreign one is empty.
func (c ProbeCache) read(cmURL string) probeCacheFile {
	empty := probeCacheFile{CMURL: cmURL, Hosts: map[string]probeCacheEntry{}}
	path, err := c.path(cmURL)
	if err != nil {
		return empty
	}
	f, err := os.Open(path)
	if err != nil {
		return empty
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProbeCacheBytes+1))
	if err != nil {
		return empty
	}
	if pf, ok := decodeProbeCache(data, cmURL); ok {
		return pf
	}
	return empty
}

// decodeProbeCache parses a cache file's content written for cmURL; ok is false for one too
// large, malformed or written for another CM.
func decodeProbeCache(data []byte, cmURL string) (pf probeCacheFile, ok bool) {
	if len(data) > maxProbeCacheBytes || json.Unmarshal(data, &pf) != nil || pf.CMURL != cmURL || pf.Hosts == nil {
		return probeCacheFile{}, false
	}
	return pf, true
}

// Load returns the relays cached for host when they were fetched within ProbeCacheTTL
// before now; ok is false otherwise (a fetch dated after now included).
func (c ProbeCache) Load(cmURL, host string, now time.Time) (relays []api.RelayAddr, ok bool) {
	e, found := c.read(cmURL).Hosts[host]
	if !found || e.Fetched.After(now) || now.Sub(e.Fetched) >= ProbeCacheTTL || len(e.Relays) == 0 {
		return nil, false
	}
	return e.Relays, true
}

// Save records the relays the CM named for host at now. An empty list is not recorded
// (the next connect asks again).
func (c ProbeCache) Save(cmURL, host string, relays []api.RelayAddr, now time.Time) error {
	if len(relays) == 0 {
		return nil
	}
	pf := c.read(cmURL)
	pf.Hosts[host] = probeCacheEntry{Fetched: now, Relays: relays}
	for len(pf.Hosts) > maxProbeCacheHosts {
		delete(pf.Hosts, oldestHost(pf.Hosts))
	}
	data, err := json.Marshal(pf)
	if err != nil {
		return fmt.Errorf("relay probe cache: %w", err)
	}
	if len(data) > maxProbeCacheBytes {
		return errors.New("relay probe cache: too large to save")
	}
	path, err := c.path(cmURL)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, credentialFileMode); err != nil {
		return fmt.Errorf("relay probe cache: %w", err)
	}
	return nil
}

// Delete removes the cache of the CM at cmURL (portcullis logout); no error when there is none.
func (c ProbeCache) Delete(cmURL string) error {
	path, err := c.path(cmURL)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("relay probe cache: %w", err)
	}
	return nil
}

// oldestHost is the Host whose relays were fetched first.
func oldestHost(hosts map[string]probeCacheEntry) string {
	var oldest string
	for h, e := range hosts {
		if oldest == "" || e.Fetched.Before(hosts[oldest].Fetched) {
			oldest = h
		}
	}
	return oldest
}
