package ticket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
)

// Limits of a KeySource's fetches of the keys the CM publishes.
const (
	// DefaultKeyMaxAge is how long a KeySource uses the keys it fetched before it fetches them
	// again (rotation: a key the CM retires stops verifying within this time). It equals the
	// relay's refresh interval (cmlink.DefaultKeyRefresh).
	DefaultKeyMaxAge = time.Minute
	// DefaultKeyFetchInterval is the least time between two fetches of a KeySource, however
	// many tickets name a key id it lacks: a flood of unknown ids costs the CM one fetch per
	// interval.
	DefaultKeyFetchInterval = 10 * time.Second
	// keyFetchTimeout bounds one fetch.
	keyFetchTimeout = 10 * time.Second
)

// KeySource verifies tickets with the keys the CM publishes, fetching them when it needs them:
// at the first ticket, when the keys it holds are older than MaxAge, and when a ticket names a
// key id it does not hold (the CM rotated its key). Fetches are at least MinInterval apart, and
// a failed or invalid fetch keeps the keys it had. Set Fetch, then use it from any goroutine;
// the fields must not change after that, and a KeySource must not be copied after first use.
type KeySource struct {
	// Fetch loads the CM's published key set (GET /v1/ticket-keys) into keys, and must leave
	// keys unchanged when it fails (KeySet.UnmarshalJSON does). Required.
	Fetch func(ctx context.Context, keys *KeySet) error
	// MaxAge is how long fetched keys are used before they are fetched again; 0 means
	// DefaultKeyMaxAge.
	MaxAge time.Duration
	// MinInterval is the least time between two fetches; 0 means DefaultKeyFetchInterval.
	MinInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	keys KeySet

	mu      sync.Mutex // serializes fetches and guards the fields below
	gen     uint64     // the number of successful fetches
	fetched time.Time  // when the last successful fetch began; zero before the first
	tried   time.Time  // when the last fetch began; zero before the first
	lastErr error      // the last fetch's error; nil after a success
}

// Verify checks raw with v (whose Keys it replaces with the source's keys) as
// Verifier.VerifyWith does, after fetching the keys if they are stale; when the ticket names a
// key id the source lacks, it fetches the keys (unless another caller just did, or the last
// fetch was less than MinInterval ago) and verifies once more. A ticket refused for its key
// carries the last fetch's failure, if any, wrapped beside the refusal's sentinel.
func (s *KeySource) Verify(ctx context.Context, v Verifier, raw string, want access.Role, admit func(*Claims) error) (*Claims, error) {
	v.Keys = &s.keys
	seen, stale := s.state()
	if stale {
		s.update(ctx, seen)
		seen, _ = s.state()
	}
	c, err := v.VerifyWith(raw, want, admit)
	if !errors.Is(err, access.ErrUnknownKey) {
		return c, err
	}
	if s.update(ctx, seen) {
		if c, err = v.VerifyWith(raw, want, admit); !errors.Is(err, access.ErrUnknownKey) {
			return c, err
		}
	}
	if ferr := s.fetchErr(); ferr != nil {
		return nil, fmt.Errorf("%w; fetch the published ticket keys: %w", err, ferr)
	}
	return nil, err
}

// state returns the number of successful fetches so far, and whether the keys are stale.
func (s *KeySource) state() (gen uint64, stale bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.fetched.IsZero() || !s.within(s.fetched, s.maxAge())
}

// fetchErr returns the last fetch's error; nil after a successful one.
func (s *KeySource) fetchErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// update fetches the keys unless a fetch succeeded since the caller saw generation seen (it
// then reports true at once) or the last fetch began less than MinInterval ago. It reports
// whether the keys may have changed since seen.
func (s *KeySource) update(ctx context.Context, seen uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.gen != seen:
		return true
	case s.Fetch == nil:
		s.lastErr = errors.New("ticket: KeySource.Fetch is nil")
		return false
	case !s.tried.IsZero() && s.within(s.tried, s.minInterval()):
		return false
	}
	s.tried = s.now()
	ctx, cancel := context.WithTimeout(ctx, keyFetchTimeout)
	defer cancel()
	if err := s.Fetch(ctx, &s.keys); err != nil {
		s.lastErr = fmt.Errorf("ticket: fetch keys: %w", err)
		return false
	}
	s.gen++
	s.fetched, s.lastErr = s.tried, nil
	return true
}

// within reports whether less than d has passed since t (a clock that went back counts as
// more, so that it cannot stop fetches).
func (s *KeySource) within(t time.Time, d time.Duration) bool {
	since := s.now().Sub(t)
	return since >= 0 && since < d
}

func (s *KeySource) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *KeySource) maxAge() time.Duration {
	if s.MaxAge <= 0 {
		return DefaultKeyMaxAge
	}
	return s.MaxAge
}

func (s *KeySource) minInterval() time.Duration {
	if s.MinInterval <= 0 {
		return DefaultKeyFetchInterval
	}
	return s.MinInterval
}
