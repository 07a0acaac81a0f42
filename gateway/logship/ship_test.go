package logship

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// receiver is a decision-log collector for the tests: it counts each decision_id it received.
type receiver struct {
	t    *testing.T
	addr string
	srv  *httptest.Server
	// refuse answers 503 without keeping the events; cut keeps them and drops the connection
	// without an answer (the collector has them, the shipper cannot know).
	refuse, cut atomic.Bool

	mu    sync.Mutex
	got   map[string]int
	posts int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[string]int{}}
	r.start()
	r.addr = r.srv.Listener.Addr().String()
	t.Cleanup(r.kill)
	return r
}

// start serves on r.addr (a fresh port the first time).
func (r *receiver) start() {
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("receiver listen: %v", err)
	}
	r.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: r}}
	r.srv.Start()
}

// kill stops the receiver at once, dropping the requests under way.
func (r *receiver) kill() {
	r.srv.CloseClientConnections()
	r.srv.Close()
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != DefaultResource ||
		req.Header.Get("Content-Encoding") != "gzip" || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("receiver: %s %s with %v, want a gzip JSON POST to %s", req.Method, req.URL.Path, req.Header, DefaultResource)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.refuse.Load() {
		http.Error(w, "collector overloaded", http.StatusServiceUnavailable)
		return
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		r.t.Errorf("receiver: body is not gzip: %v", err)
		return
	}
	var events []map[string]any
	if err := json.NewDecoder(zr).Decode(&events); err != nil {
		r.t.Errorf("receiver: body is not a JSON array of events: %v", err)
		return
	}
	r.mu.Lock()
	r.posts++
	for _, ev := range events {
		id, _ := ev["decision_id"].(string)
		if _, ok := ev["timestamp"].(string); !ok || id == "" {
			r.t.Errorf("receiver: event without decision_id or timestamp: %v", ev)
		}
		r.got[id]++
	}
	r.mu.Unlock()
	if r.cut.CompareAndSwap(true, false) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	w.WriteHeader(http.StatusOK)
}

// counts returns how many distinct events arrived and how many arrived more than once.
func (r *receiver) counts() (distinct, duplicates int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.got {
		duplicates += n - 1
	}
	return len(r.got), duplicates
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runShipper starts a shipper on db for url and returns the function that stops it.
func runShipper(t *testing.T, db *store.DB, url string) (stop func()) {
	t.Helper()
	s, err := New(Config{Outbox: db, URL: url, Batch: 7, Poll: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestEveryCommittedEventArrives commits records while the collector is disrupted and the
// shipper restarted mid-stream: every record arrives at least once, none is lost, and the
// outbox ends empty.
func TestEveryCommittedEventArrives(t *testing.T) {
	cases := []struct {
		name    string
		disrupt func(r *receiver) (restore func())
		// held: nothing is delivered during the disruption, so all its records stay queued.
		held bool
	}{
		{"receiver killed and restarted", func(r *receiver) func() { r.kill(); return r.start }, true},
		{"receiver refuses with 503", func(r *receiver) func() { r.refuse.Store(true); return func() { r.refuse.Store(false) } }, true},
		{"connection cut after the events arrived", func(r *receiver) func() { r.cut.Store(true); return func() {} }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phases := []int{150, 150, 100} // committed before, during and after the disruption
			total := phases[0] + phases[1] + phases[2]
			path := filepath.Join(t.TempDir(), "ship.db")
			db := openDB(t, path)
			rcv := newReceiver(t)
			stop := runShipper(t, db, "http://"+rcv.addr)
			defer func() { stop() }()
			var committed atomic.Int64
			next := make(chan struct{})
			committerDone := make(chan struct{})
			go func() {
				defer close(committerDone)
				i := 0
				for p, n := range phases {
					if p > 0 {
						<-next
					}
					for range n {
						d := store.Decision{ID: fmt.Sprintf("dec-%04d", i), Time: time.Now(), Path: "portcullis/authz/decision",
							Allow: i%2 == 0, Bundles: map[string]string{"portcullis": "rev"}}
						if err := db.InsertDecision(context.Background(), d); err != nil {
							t.Errorf("InsertDecision: %v", err)
							return
						}
						i++
						committed.Add(1)
					}
				}
			}()
			eventually(t, 10*time.Second, "the first events", func() bool { n, _ := rcv.counts(); return n >= 30 })
			restore := c.disrupt(rcv)
			next <- struct{}{}
			eventually(t, 10*time.Second, "commits during the disruption", func() bool { return committed.Load() == int64(phases[0]+phases[1]) })
			if c.held {
				if n, err := db.OutboxLen(context.Background()); err != nil || n < phases[1] {
					t.Fatalf("outbox during the disruption holds %d records (%v), want at least %d", n, err, phases[1])
				}
			}
			restore()
			// The CM restarts mid-stream: a new shipper on a new store handle resumes from the outbox.
			stop()
			stop = runShipper(t, openDB(t, path), "http://"+rcv.addr)
			next <- struct{}{}
			<-committerDone
			eventually(t, 20*time.Second, "every event", func() bool { n, _ := rcv.counts(); return n == total })
			eventually(t, 10*time.Second, "an empty outbox", func() bool { n, err := db.OutboxLen(context.Background()); return err == nil && n == 0 })
			n, dups := rcv.counts()
			t.Logf("%d events arrived, %d duplicates", n, dups)
		})
	}
}

func TestTarget(t *testing.T) {
	cases := []struct{ in, want, wantErr string }{
		{"http://collector:8181", "http://collector:8181/logs", ""},
		{"https://collector/", "https://collector/logs", ""},
		{"https://collector/v1/decisions", "https://collector/v1/decisions", ""},
		{"collector:8181", "", "absolute http or https"},
		{"ftp://collector/logs", "", "absolute http or https"},
		{"", "", "absolute http or https"},
	}
	for _, c := range cases {
		got, err := Target(c.in)
		if got != c.want || (err == nil) != (c.wantErr == "") {
			t.Errorf("Target(%q) = %q, %v; want %q, error %q", c.in, got, err, c.want, c.wantErr)
		}
	}
}

// TestEncodeIsOPAsFormat: a POST body is a gzip-compressed JSON array of OPA decision-log
// events.
func TestEncodeIsOPAsFormat(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body, err := Encode([]store.Decision{{
		ID: "dec-1", Time: at, Path: "portcullis/authz/decision", Subject: "alice", Allow: true, Reasons: []string{"ok"},
		Input: json.RawMessage(`{"a":1}`), Result: json.RawMessage(`{"allow":true}`), Revision: "r1", EvalNS: 9,
		Labels: map[string]string{"cm": "cm-1"}, Erased: []string{"/input/x"}, Masked: []string{"/input/y"},
		Bundles: map[string]string{"portcullis": "r1"}, RequestedBy: "192.0.2.1:5", ReqID: 3,
	}})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	want := `[{"decision_id":"dec-1","timestamp":"2026-01-02T03:04:05Z","path":"portcullis/authz/decision",` +
		`"subject":"alice","host_id":"","host_name":"","allow":true,"reasons":["ok"],"input":{"a":1},` +
		`"result":{"allow":true},"revision":"r1","bundles":{"portcullis":{"revision":"r1"}},` +
		`"erased":["/input/x"],"masked":["/input/y"],"requested_by":"192.0.2.1:5","req_id":3,` +
		`"metrics":{"timer_rego_query_eval_ns":9},"labels":{"cm":"cm-1"}}]` + "\n"
	if string(raw) != want {
		t.Errorf("body\n%s\nwant\n%s", raw, want)
	}
}
