package gateway

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/store"
)

// hostIdentityCache remembers the enrolled, enabled Hosts that authenticated recently, so that a
// heartbeat or long-poll costs no store read. An entry lives for Config.HostAuthTTL: a Host
// disabled in the store (by this replica or another) is refused within that time. Connects
// never use it: they read the Host afresh before deciding.
type hostIdentityCache struct {
	mu      sync.Mutex
	entries map[string]hostIdentityEntry
}

// hostIdentityEntry is one cached Host and when it expires.
type hostIdentityEntry struct {
	host  store.Host
	until time.Time
}

// newHostIdentityCache returns an empty cache.
func newHostIdentityCache() *hostIdentityCache {
	return &hostIdentityCache{entries: map[string]hostIdentityEntry{}}
}

// get returns the cached Host with id when its entry has not expired at now.
func (c *hostIdentityCache) get(id string, now time.Time) (store.Host, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || !now.Before(e.until) {
		return store.Host{}, false
	}
	return e.host, true
}

// put remembers an enabled Host until now+ttl; a disabled one is forgotten.
func (c *hostIdentityCache) put(h store.Host, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.Disabled || ttl <= 0 {
		delete(c.entries, h.ID)
		return
	}
	c.entries[h.ID] = hostIdentityEntry{host: h, until: now.Add(ttl)}
}

// forget drops a Host's entry, after this replica changed its state (disabled, deleted, a
// renewed certificate).
func (c *hostIdentityCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}
