package gateway

import (
	"math/big"
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// hostIdentityCache remembers the enrolled, enabled Hosts that authenticated recently, so that a
// heartbeat or long-poll costs no store read. An entry lives for Config.HostAuthTTL: a Host
// disabled in the store (by this replica or another) is refused within that time. An entry
// never refuses a certificate by itself: one whose serial differs is checked against the store
// (authenticateHost), so a certificate renewed at another replica works here at once. Connects
// never use it: they read the Host afresh before deciding.
type hostIdentityCache struct {
	mu      sync.Mutex
	entries map[string]hostIdentityEntry
}

// hostIdentityEntry is one cached Host, the serial of its certificate, and when it expires.
type hostIdentityEntry struct {
	host   store.Host
	serial *big.Int
	until  time.Time
}

// certSerial parses the certificate serial the store holds for h (decimal, as
// x509.Certificate.SerialNumber prints it); nil when it holds none.
func certSerial(h store.Host) *big.Int {
	n, ok := new(big.Int).SetString(h.CertSerial, 10)
	if !ok {
		return nil
	}
	return n
}

// sameSerial reports whether the serial the CM holds for a Host (nil: none) is presented's.
func sameSerial(held, presented *big.Int) bool {
	return held != nil && presented != nil && held.Cmp(presented) == 0
}

// newHostIdentityCache returns an empty cache.
func newHostIdentityCache() *hostIdentityCache {
	return &hostIdentityCache{entries: map[string]hostIdentityEntry{}}
}

// get returns the cached Host with id, and its certificate serial, when its entry has not
// expired at now.
func (c *hostIdentityCache) get(id string, now time.Time) (store.Host, *big.Int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !now.Before(e.until) {
		return store.Host{}, nil, false
	}
	return e.host, e.serial, true
}

// put remembers an enabled Host until now+ttl (a disabled one is forgotten) and returns its
// certificate serial.
func (c *hostIdentityCache) put(h store.Host, now time.Time, ttl time.Duration) *big.Int {
	serial := certSerial(h)
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.Disabled || ttl <= 0 {
		delete(c.entries, h.ID)
		return serial
	}
	c.entries[h.ID] = hostIdentityEntry{host: h, serial: serial, until: now.Add(ttl)}
	return serial
}

// forget drops a Host's entry, after this replica changed its state (disabled, deleted, a
// renewed certificate).
func (c *hostIdentityCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
