package policy

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// DefaultPollInterval is how often a Manager looks for a changed policy when
// ManagerConfig.PollInterval is zero: besides the file watch for a directory or bundle file, and
// the only way for a bundle service (cheap then: an unchanged bundle is a 304).
const DefaultPollInterval = time.Second

// Origins of a loaded policy, as Status reports them.
const (
	OriginEmbedded = "embedded"
	OriginDir      = "dir"
	OriginBundle   = "bundle"
	// OriginFixed: an Engine used as a Source; it never reloads.
	OriginFixed = "fixed"
)

// Errors of a candidate policy a Manager refuses; check them with errors.Is.
var (
	// ErrTestsFailed: a candidate policy's own Rego tests failed, so it was not rolled out.
	ErrTestsFailed = errors.New("policy: the policy's tests failed")
	// ErrUntested: a candidate policy has no Rego tests and ManagerConfig.AllowUntested is off.
	ErrUntested = errors.New("policy: the policy has no tests")
)

// Source hands out the policy that decides now. An Engine is a Source that never changes; a
// Manager is one that reloads.
type Source interface {
	// Current returns the engine to decide with; never nil.
	Current() *Engine
	// Status describes the policy being served and the last reload.
	Status() Status
}

// Status describes a Source: the policy it serves and how its last reload went.
type Status struct {
	// Revision is the serving policy's revision: the bundle's manifest revision, or the hash
	// of its modules.
	Revision string `json:"revision"`
	// Origin is where the policy came from: embedded, dir or bundle.
	Origin string `json:"origin"`
	// Location is the directory or bundle file; empty for the embedded policy.
	Location string `json:"location,omitempty"`
	// LoadedAt is when the serving policy was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// Tests is how many of the serving policy's Rego tests passed before it was rolled out.
	Tests int `json:"tests"`
	// Untested is true while the serving policy has no tests: rolled out only because
	// AllowUntested is set.
	Untested bool `json:"untested"`
	// AllowUntested is true when the Manager accepts policies without tests
	// (ManagerConfig.AllowUntested, the CM's --allow-untested-policy).
	AllowUntested bool `json:"allow_untested"`
	// Watching is true while Run watches the policy's files for changes (notified at once);
	// false while it only polls, every PollInterval.
	Watching bool `json:"watching"`
	// LastError is why the last candidate was refused; empty when the last load succeeded.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when the last candidate was refused.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Reloads counts policies rolled out after the first.
	Reloads int64 `json:"reloads_total"`
	// Failures counts candidates refused (parse, compile, type, signature or test failures,
	// or no tests).
	Failures int64 `json:"reload_failures_total"`
}

// ManagerConfig configures NewManager. Set at most one of Dir and Bundle; with neither, the
// embedded default policy serves and never changes.
type ManagerConfig struct {
	// Dir is a directory of .rego modules, their _test.rego tests and input.schema.json.
	Dir string
	// Bundle is an OPA bundle (.tar.gz): a file, or the https:// URL of a bundle service; its
	// signature is verified with Verify.
	Bundle string
	// BundleClient fetches a bundle URL; default: the system's roots, and proxies from the
	// environment.
	BundleClient *http.Client
	// Verify checks the bundle's signature; required with Bundle.
	Verify BundleVerification
	// PollInterval is how often Run looks for a change besides watching the files (a safety
	// net for file systems that do not notify); default DefaultPollInterval.
	PollInterval time.Duration
	// Debounce is how long Run waits for the files to be quiet after a notified change before
	// it reads them; default DefaultDebounce.
	Debounce time.Duration
	// AllowUntested rolls out a policy that has no Rego tests (reported as Status.Untested);
	// default false: such a policy is refused with ErrUntested, at start and on reload.
	AllowUntested bool
	// Logger receives load and reload reports; default discards.
	Logger *slog.Logger
}

// Validate reports every problem of the configuration at once.
func (c *ManagerConfig) Validate() error {
	var errs []error
	if c.Dir != "" && c.Bundle != "" {
		errs = append(errs, errors.New("policy: set a policy directory or a bundle, not both"))
	}
	if c.Bundle != "" {
		if err := c.Verify.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if isBundleURL(c.Bundle) {
		if err := validateBundleURL(c.Bundle); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PollInterval < 0 || c.Debounce < 0 {
		errs = append(errs, errors.New("policy: poll interval and debounce must not be negative"))
	}
	return errors.Join(errs...)
}

// Manager serves the last good policy and rolls out a changed one only when it parses,
// compiles type-checked against its input schema, has tests and passes them. It is safe for
// concurrent use.
type Manager struct {
	cfg     ManagerConfig
	current atomic.Pointer[Engine]

	reload      sync.Mutex // serialises reloads; guards fingerprint and fetcher
	fingerprint [sha256.Size]byte
	// fetcher downloads the bundle from a bundle service; nil for a file or directory.
	fetcher *bundleFetcher

	mu     sync.Mutex // guards status and changed
	status Status
	// changed is closed (and replaced) when a new policy rolls out.
	changed chan struct{}
}

// NewManager loads the configured policy; it fails when the first policy cannot serve.
func NewManager(ctx context.Context, cfg ManagerConfig) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, changed: make(chan struct{}), status: Status{Origin: cfg.origin(), Location: cfg.location(), AllowUntested: cfg.AllowUntested}}
	if isBundleURL(cfg.Bundle) {
		m.fetcher = &bundleFetcher{url: cfg.Bundle, client: cmp.Or(cfg.BundleClient, &http.Client{})}
	}
	if _, err := m.Reload(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// location is the policy directory or bundle file; empty for the embedded policy.
func (c *ManagerConfig) location() string { return cmp.Or(c.Dir, redactURL(c.Bundle)) }

func (c *ManagerConfig) origin() string {
	switch {
	case c.Dir != "":
		return OriginDir
	case c.Bundle != "":
		return OriginBundle
	}
	return OriginEmbedded
}

// Current returns the engine of the last good policy.
func (m *Manager) Current() *Engine { return m.current.Load() }

// Status describes the serving policy and the last reload.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Reload reads the policy again and rolls it out if it changed and is good; it reports
// whether a new policy now serves. A bad candidate leaves the serving policy in place and
// returns the reason (also kept in Status and logged).
func (m *Manager) Reload(ctx context.Context) (bool, error) {
	m.reload.Lock()
	defer m.reload.Unlock()
	cand, err := m.readCandidate(ctx)
	if cand.fingerprint != ([sha256.Size]byte{}) {
		if m.current.Load() != nil && cand.fingerprint == m.fingerprint {
			return false, nil // unchanged since the last attempt, good or bad
		}
		m.fingerprint = cand.fingerprint
	}
	var e *Engine
	var tests int
	if err == nil {
		e, tests, err = m.build(ctx, cand)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.status.LastError, m.status.LastErrorAt = err.Error(), time.Now()
		m.status.Failures++
		m.cfg.Logger.Error("policy refused; the last good policy keeps serving", "origin", m.status.Origin,
			"location", m.status.Location, "serving_revision", m.status.Revision, "err", err)
		return false, err
	}
	if m.current.Swap(e) != nil {
		m.status.Reloads++
		m.announce()
	}
	m.status.Revision, m.status.LoadedAt, m.status.Tests, m.status.Untested = e.Revision(), e.loadedAt, tests, tests == 0
	m.status.LastError, m.status.LastErrorAt = "", time.Time{}
	if tests == 0 {
		m.cfg.Logger.Warn("policy rolled out WITHOUT tests, as untested policies are allowed", "origin", m.status.Origin,
			"location", m.status.Location, "revision", e.Revision())
		return true, nil
	}
	m.cfg.Logger.Info("policy rolled out", "origin", m.status.Origin, "location", m.status.Location,
		"revision", e.Revision(), "tests_passed", tests)
	return true, nil
}

// candidate is a policy read from its origin but not yet checked.
type candidate struct {
	// fsys holds the policy's files in memory, read once: the tests and the compiler read the
	// same bytes, those the fingerprint is of.
	fsys        fs.FS
	revision    string
	fingerprint [sha256.Size]byte
}

// readCandidate reads the policy files into memory once (and verifies a bundle's signature).
func (m *Manager) readCandidate(ctx context.Context) (candidate, error) {
	switch {
	case m.cfg.Dir != "":
		// Checked by its name first: os.DirFS names a missing directory ".".
		if _, err := os.Stat(m.cfg.Dir); err != nil {
			return candidate{}, fmt.Errorf("%w: policy directory: %w", ErrInvalidPolicy, err)
		}
		return snapshotCandidate(os.DirFS(m.cfg.Dir))
	case m.cfg.Bundle != "":
		raw, err := m.readBundleBytes(ctx)
		if err != nil {
			return candidate{}, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
		}
		fsys, rev, err := ReadBundle(raw, m.cfg.Verify)
		return candidate{fsys: fsys, revision: rev, fingerprint: sha256.Sum256(raw)}, err
	}
	return snapshotCandidate(defaultpolicy.Files())
}

// readBundleBytes reads the bundle file, or downloads the bundle from its service.
func (m *Manager) readBundleBytes(ctx context.Context) ([]byte, error) {
	if m.fetcher != nil {
		return m.fetcher.fetch(ctx)
	}
	return os.ReadFile(m.cfg.Bundle)
}

// build compiles a candidate, type-checked against its input schema (the embedded one when it
// has none, directory and bundle alike), and runs its tests; only a policy that has tests and
// passes every one is returned, or one without tests when AllowUntested is set.
func (m *Manager) build(ctx context.Context, c candidate) (*Engine, int, error) {
	fsys := WithDefaultSchema(c.fsys)
	type testRun struct {
		report TestReport
		err    error
	}
	tests := make(chan testRun, 1)
	go func() { // beside the compilation: a policy change reaches the sessions sooner
		report, err := Test(ctx, fsys)
		tests <- testRun{report, err}
	}()
	e, err := New(ctx, WithFS(fsys), WithRevision(c.revision), WithLogger(m.cfg.Logger))
	run := <-tests
	if err != nil {
		return nil, 0, err
	}
	if run.err != nil {
		return nil, 0, run.err
	}
	report := run.report
	switch {
	case report.Failed > 0:
		first := report.Failures[0]
		return nil, 0, fmt.Errorf("%w: %d of %d failed; first: %s (%s): %s", ErrTestsFailed,
			report.Failed, report.Failed+report.Passed, first.Name, first.Location, first.Message)
	case report.Passed == 0 && !m.cfg.AllowUntested:
		return nil, 0, fmt.Errorf("%w: no test_ rule ran; write tests in %s files, or allow untested policies explicitly", ErrUntested, testSuffix)
	}
	return e, report.Passed, nil
}
