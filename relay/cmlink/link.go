package cmlink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

// Defaults of the Link's zero-valued fields, and fixed timings.
const (
	// DefaultKeyRetry is the pause between tries of fetching the ticket keys at start.
	DefaultKeyRetry = time.Second
	// DefaultKeyRefresh is how often a running link fetches the ticket keys again (rotation).
	DefaultKeyRefresh = time.Minute

	// firstReportInterval is the pause between registrations until the CM names one.
	firstReportInterval = time.Second
	// reportTimeout bounds one pairing or session-end report to the CM.
	reportTimeout = 10 * time.Second
	// registerTimeout bounds one registration: the CM ends the sessions of a relay whose
	// reports stop for a few seconds (its relay-stale time, 3 s by default), so a registration
	// stuck on a CM replica that hangs is given up in time to try again, on a new connection
	// that the load balancer sends to a live replica.
	registerTimeout = 1500 * time.Millisecond
	// retryRegister is the pause after a failed registration, when it is shorter than the
	// report interval.
	retryRegister = 250 * time.Millisecond
)

// Relay is the Connection Server a link speaks for; *relay.Server is one.
type Relay interface {
	// Stats returns the relay's current load.
	Stats() relay.Stats
	// SessionIDs returns the ids of the sessions the relay holds, spliced or waiting.
	SessionIDs() []string
	// EndSession ends session id with reason and reports whether the relay held it.
	EndSession(id, reason string) bool
}

var _ Relay = (*relay.Server)(nil)

// Link is a Connection Server's link to its Connection Manager. Set its fields, then use it;
// the fields must not change after that. A Link must not be copied after first use.
type Link struct {
	// CMURL is the CM's base URL, e.g. https://cm.example.com:8443. Required.
	CMURL string
	// Client reaches the CM with the relay's client certificate (mTLS), which names the relay:
	// "relay:<id>" (Identity.Cert). The CM binds every call to that id. Required.
	Client *http.Client
	// Registration is what the relay registers: its id (the audience of its tickets, which
	// must be the id its certificate names), addresses, region, owner and capacity. The link
	// fills in the load; ID is required.
	Registration api.RelayRegistration
	// KeyRetry is the pause between tries of FetchKeys; 0 means DefaultKeyRetry.
	KeyRetry time.Duration
	// KeyRefresh is how often Run fetches the ticket keys again; 0 means DefaultKeyRefresh.
	KeyRefresh time.Duration
	// Logger receives the link's logs; nil discards them.
	Logger *slog.Logger

	mu        sync.Mutex
	lastBytes int64     // the relay's byte count at the last registration
	lastAt    time.Time // when it was taken; zero before the first
}

// Validate reports every configuration problem at once.
func (l *Link) Validate() error {
	var errs []error
	if l.CMURL == "" {
		errs = append(errs, errors.New("cmlink: Link.CMURL is empty"))
	}
	if l.Client == nil {
		errs = append(errs, errors.New("cmlink: Link.Client is nil"))
	}
	if l.Registration.ID == "" {
		errs = append(errs, errors.New("cmlink: Link.Registration.ID is empty"))
	}
	if l.KeyRetry < 0 || l.KeyRefresh < 0 {
		errs = append(errs, errors.New("cmlink: KeyRetry and KeyRefresh must not be negative"))
	}
	return errors.Join(errs...)
}

func (l *Link) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// relayID is the id of the relay the link speaks for.
func (l *Link) relayID() string { return l.Registration.ID }

// FetchKeys loads the CM's ticket-signing keys into keys, retrying every KeyRetry until the CM
// answers with a valid key set or ctx ends; then it returns ctx's error joined with the last
// failure that ctx's end did not cause.
func (l *Link) FetchKeys(ctx context.Context, keys *ticket.KeySet) error {
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := l.call(ctx, http.MethodGet, api.PathTicketKeys, nil, keys)
		if err != nil && (ctx.Err() == nil || last == nil) {
			last = err
		}
		return struct{}{}, err
	},
		backoff.WithBackOff(backoff.NewConstantBackOff(orDefault(l.KeyRetry, DefaultKeyRetry))),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			l.logger().Warn("fetch ticket keys from CM", "relay_id", l.relayID(), "err", err, "retry_in", next)
		}))
	if err != nil && ctx.Err() != nil {
		return errors.Join(ctx.Err(), last)
	}
	return err
}

// Run registers the relay and reports its load at the interval the CM asks for, refreshes the
// ticket keys in keys, and carries out the CM's orders to end sessions, until ctx ends.
func (l *Link) Run(ctx context.Context, r Relay, keys *ticket.KeySet) {
	var wg sync.WaitGroup
	wg.Go(func() { l.maintain(ctx, r, keys) })
	wg.Go(func() { l.EndOrderedSessions(ctx, r) })
	wg.Wait()
}

// maintain registers the relay and reports its load at the interval the CM asks for, and
// refreshes the ticket keys, until ctx ends.
func (l *Link) maintain(ctx context.Context, r Relay, keys *ticket.KeySet) {
	interval := firstReportInterval
	lastKeys := time.Now()
	registered := false
	for {
		next, err := l.Register(ctx, r)
		switch {
		case err != nil && ctx.Err() == nil:
			l.logger().Warn("register with CM", "relay_id", l.relayID(), "err", err)
		case err == nil && !registered:
			// Once, and again after a failure: that the CM knows this relay, and under which id.
			l.logger().Info("registered with the CM", "relay_id", l.relayID(), "cm_url", l.CMURL, "addr", l.Registration.Addr, "report_every", cmp.Or(next, interval))
		}
		registered = err == nil
		if next > 0 {
			interval = next
		}
		pause := interval
		if err != nil {
			pause = min(interval, retryRegister)
		}
		if time.Since(lastKeys) > orDefault(l.KeyRefresh, DefaultKeyRefresh) {
			// A failed or invalid answer leaves the current keys in place.
			if err := l.call(ctx, http.MethodGet, api.PathTicketKeys, nil, keys); err == nil {
				lastKeys = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// Register sends one registration with the relay's current load; it returns the report
// interval the CM asks for (0 when it names none).
func (l *Link) Register(ctx context.Context, r Relay) (time.Duration, error) {
	return l.register(ctx, r, false)
}

// Drain tells the CM that the relay is shutting down and takes no new sessions; a failure is
// logged (the CM stops assigning a relay that stops reporting anyway).
func (l *Link) Drain(ctx context.Context, r Relay) {
	if _, err := l.register(ctx, r, true); err != nil {
		l.logger().Warn("register with CM", "relay_id", l.relayID(), "draining", true, "err", err)
	}
}

func (l *Link) register(ctx context.Context, r Relay, draining bool) (time.Duration, error) {
	reg := l.Registration
	reg.Draining = draining
	st := r.Stats()
	reg.Sessions = st.Live
	reg.LiveSessions = r.SessionIDs()
	now := time.Now()
	l.mu.Lock()
	if secs := now.Sub(l.lastAt).Seconds(); !l.lastAt.IsZero() && secs > 0 {
		reg.BytesPerSec = int64(float64(st.Bytes-l.lastBytes) / secs)
	}
	l.lastBytes, l.lastAt = st.Bytes, now
	l.mu.Unlock()
	var resp api.RelayRegistrationResponse
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	if err := l.call(ctx, http.MethodPost, api.PathRelayRegister, reg, &resp); err != nil {
		return 0, fmt.Errorf("cmlink: register relay %s: %w", reg.ID, err)
	}
	return time.Duration(resp.IntervalSeconds) * time.Second, nil
}

// ReportPaired tells the CM how the two halves of a session reached the relay. A failure is
// logged and returned.
func (l *Link) ReportPaired(ctx context.Context, r relay.PairReport) error {
	return l.report(ctx, api.PathRelayPaired, r.SessionID, api.RelayPaired{
		RelayID: l.relayID(), SessionID: r.SessionID, GuestTransport: r.GuestTransport, HostTransport: r.HostTransport,
	})
}

// ReportEnd tells the CM that a session ended, with its bytes and reason. A failure is logged
// and returned.
func (l *Link) ReportEnd(ctx context.Context, r relay.SessionReport) error {
	return l.report(ctx, api.PathRelaySessionEnd, r.SessionID, api.SessionEnd{
		RelayID: l.relayID(), SessionID: r.SessionID, Started: r.Started, Ended: r.Ended,
		BytesUp: r.BytesGuestToHost, BytesDown: r.BytesHostToGuest, Reason: r.Reason,
	})
}

// report posts one report within reportTimeout.
func (l *Link) report(ctx context.Context, path, sessionID string, body any) error {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	if err := l.call(ctx, http.MethodPost, path, body, nil); err != nil {
		l.logger().Warn("report to CM", "path", path, "relay_id", l.relayID(), "session_id", sessionID, "err", err)
		return fmt.Errorf("cmlink: report %s: %w", path, err)
	}
	return nil
}

// call makes one request to the CM (path and query relative to CMURL).
func (l *Link) call(ctx context.Context, method, path string, in, out any) error {
	return api.Call(ctx, l.Client, method, l.CMURL+path, "", in, out)
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
