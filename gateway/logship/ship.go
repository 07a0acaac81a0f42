// Package logship ships committed decision records to a decision-log collector with OPA's
// decision-log service protocol, at least once.
//
// It owns the delivery of the decision outbox (store.DB.OutboxDecisions): records are read from
// the committed log, never from memory, POSTed as a gzip-compressed JSON array of OPA
// decision-log events (Event) to the collector, and acknowledged in the store (AckOutbox) only
// after the collector answered 2xx. A collector outage, a crash between POST and
// acknowledgement, or a CM restart therefore never loses a record; at worst a batch is sent
// again (receivers deduplicate by decision_id). The position is the outbox in the shared
// database, so the replica that ships next (the holder of the singleton lease) resumes where
// another left.
package logship

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// Defaults for Config fields left zero.
const (
	// DefaultResource is the path events are POSTed to when the URL has none, as in OPA.
	DefaultResource = "/logs"
	// DefaultBatch is how many records one POST carries.
	DefaultBatch = 100
	// DefaultPoll is how often an idle shipper looks for new records.
	DefaultPoll = time.Second
	// DefaultMaxBackoff caps the pause between two attempts after a failure.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultTimeout bounds one POST.
	DefaultTimeout = 30 * time.Second
	// minBackoff is the pause after the first failure; it doubles per failure (with jitter).
	minBackoff = 100 * time.Millisecond
	// maxErrorBody bounds how much of a refusing collector's answer is kept for the log.
	maxErrorBody = 512
)

// errNotLeader stops a retry when this replica no longer ships.
var errNotLeader = errors.New("logship: not the shipping replica")

// Outbox is the committed decision log's queue of records not yet shipped (*store.DB).
type Outbox interface {
	// OutboxDecisions returns up to limit queued records, oldest first, and the queued ids
	// whose record is gone.
	OutboxDecisions(ctx context.Context, limit int) ([]store.Decision, []string, error)
	// AckOutbox removes delivered records from the queue.
	AckOutbox(ctx context.Context, ids []string) error
}

// Config configures a Shipper. Outbox and URL are required.
type Config struct {
	// Outbox is where the records to ship are queued.
	Outbox Outbox
	// URL is the collector: the events are POSTed to it, to DefaultResource when it has no path
	// (an OPA service URL).
	URL string
	// Client sends the POSTs; default an http.Client with DefaultTimeout.
	Client *http.Client
	// Leader reports whether this replica ships now; nil ships always.
	Leader func() bool
	// Batch is how many records one POST carries; default DefaultBatch, at most
	// store.MaxOutboxBatch.
	Batch int
	// Poll is how often an idle shipper looks for new records; default DefaultPoll.
	Poll time.Duration
	// MaxBackoff caps the pause between attempts after a failure; default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives the shipper's logs; default discards.
	Logger *slog.Logger
}

// Shipper delivers the decision outbox to a collector. Create it with New and start Run.
type Shipper struct {
	cfg    Config
	target string
	// shipped counts the records collectors acknowledged; failures the failed attempts.
	shipped, failures atomic.Uint64
}

// Stats counts what a Shipper did since it was made.
type Stats struct {
	// Shipped is how many records collectors acknowledged (a record sent again counts again).
	Shipped uint64
	// Failures is how many attempts failed (store or collector) and were retried.
	Failures uint64
}

// Stats returns what s did so far.
func (s *Shipper) Stats() Stats {
	return Stats{Shipped: s.shipped.Load(), Failures: s.failures.Load()}
}

// New checks cfg and returns a Shipper.
func New(cfg Config) (*Shipper, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("logship: Outbox is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	target, err := Target(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg.Batch = cmp.Or(cfg.Batch, DefaultBatch)
	cfg.Poll = cmp.Or(cfg.Poll, DefaultPoll)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Leader == nil {
		cfg.Leader = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Shipper{cfg: cfg, target: target}, nil
}

// Validate reports every problem of the settings at once, each a *SettingError: a URL that is
// not an absolute http(s) URL, a Batch beyond 0..store.MaxOutboxBatch, a negative Poll or
// MaxBackoff. It needs no Outbox.
func (c Config) Validate() error {
	var errs []error
	if _, err := Target(c.URL); err != nil {
		errs = append(errs, &SettingError{Field: "URL", Value: fmt.Sprintf("%q", c.URL), Problem: "must be an absolute http or https URL"})
	}
	if c.Batch < 0 || c.Batch > store.MaxOutboxBatch {
		errs = append(errs, &SettingError{Field: "Batch", Value: fmt.Sprint(c.Batch),
			Problem: fmt.Sprintf("is outside 1..%d (0 is the default, %d)", store.MaxOutboxBatch, DefaultBatch)})
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"Poll", c.Poll}, {"MaxBackoff", c.MaxBackoff}} {
		if d.d < 0 {
			errs = append(errs, &SettingError{Field: d.name, Value: d.d.String(), Problem: "must not be negative (0 is the default)"})
		}
	}
	return errors.Join(errs...)
}

// SettingError is a problem with one setting of a Config; Field names it as Config does.
type SettingError struct {
	// Field is the Config field.
	Field string
	// Value is the field's value as shown in the message.
	Value string
	// Problem says what is wrong with it.
	Problem string
}

func (e *SettingError) Error() string { return "logship: " + e.Field + " " + e.Value + " " + e.Problem }

// Target is the URL events are POSTed to for the collector URL raw: raw itself, or raw with
// DefaultResource when it has no path. It refuses anything but an absolute http(s) URL.
func Target(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("logship: collector URL %q must be an absolute http or https URL", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultResource
	}
	return u.String(), nil
}

// Run ships until ctx ends, while Leader says so: every queued record, oldest first, retrying a
// failed batch (store or collector) with growing pauses until it is delivered. It returns nil
// when ctx ends.
func (s *Shipper) Run(ctx context.Context) error {
	s.cfg.Logger.Info("shipping decision records", "collector", s.target)
	idle := time.NewTicker(s.cfg.Poll)
	defer idle.Stop()
	for {
		full := false
		if s.cfg.Leader() {
			n, err := backoff.Retry(ctx, func() (int, error) { return s.shipBatch(ctx) },
				backoff.WithBackOff(&backoff.ExponentialBackOff{
					InitialInterval: minBackoff, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: s.cfg.MaxBackoff,
				}),
				backoff.WithMaxElapsedTime(0),
				backoff.WithNotify(func(err error, next time.Duration) {
					s.failures.Add(1)
					s.cfg.Logger.Warn("ship decision records; retrying", "collector", s.target, "err", err, "retry_in", next)
				}))
			full = err == nil && n >= s.cfg.Batch
		}
		if full {
			continue // more are queued: no pause
		}
		select {
		case <-ctx.Done():
			return nil
		case <-idle.C:
		}
	}
}

// shipBatch ships the oldest queued records and acknowledges them; it returns how many queued
// ids it settled.
func (s *Shipper) shipBatch(ctx context.Context) (int, error) {
	if !s.cfg.Leader() {
		return 0, backoff.Permanent(errNotLeader)
	}
	ds, missing, err := s.cfg.Outbox.OutboxDecisions(ctx, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	if len(missing) > 0 {
		s.cfg.Logger.Error("queued decision records are gone from the decision log; not shipped", "decision_ids", missing)
	}
	if len(ds) > 0 {
		if err := s.post(ctx, ds); err != nil {
			return 0, err
		}
	}
	ids := missing
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	if err := s.cfg.Outbox.AckOutbox(ctx, ids); err != nil {
		return 0, err // the batch goes again: at least once
	}
	if len(ds) > 0 {
		s.shipped.Add(uint64(len(ds)))
		s.cfg.Logger.Debug("shipped decision records", "count", len(ds), "last", ds[len(ds)-1].ID)
	}
	return len(ids), nil
}

// post sends ds to the collector as a gzip-compressed JSON array of events.
func (s *Shipper) post(ctx context.Context, ds []store.Decision) error {
	body, err := Encode(ds)
	if err != nil {
		return backoff.Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(fmt.Errorf("logship: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("logship: post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return fmt.Errorf("logship: collector answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
	return nil
}

// Encode is the body of one POST: ds as a gzip-compressed JSON array of events (Event).
func Encode(ds []store.Decision) ([]byte, error) {
	events := make([]api.Decision, len(ds))
	for i, d := range ds {
		events[i] = Event(d)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(events); err != nil {
		return nil, fmt.Errorf("logship: encode events: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("logship: compress events: %w", err)
	}
	return b.Bytes(), nil
}
