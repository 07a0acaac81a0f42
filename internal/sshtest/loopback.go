package sshtest

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeout bounds every wait of the end-to-end SSH tests; reaching it is a hang, not slowness.
const Timeout = 30 * time.Second

// errServeHung reports a server that did not return within Timeout.
var errServeHung = errors.New("the server did not return")

// Loopback runs serve on the one connection accepted by a loopback TCP listener and returns
// the client's end of that connection and serve's result (which waits for it, at most
// Timeout). The test fails when serve is still running Timeout after the test ends.
func Loopback(t testing.TB, serve func(net.Conn) error) (net.Conn, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			result <- err
			return
		}
		result <- serve(conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	served := sync.OnceValue(func() error {
		select {
		case err := <-result:
			return err
		case <-time.After(Timeout):
			return errServeHung
		}
	})
	t.Cleanup(func() {
		_ = conn.Close()
		if err := served(); errors.Is(err, errServeHung) {
			t.Error(err)
		}
	})
	return conn, served
}

// Transcript collects output and lets a test wait for text to appear in it.
type Transcript struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewTranscript returns an empty transcript.
func NewTranscript() *Transcript {
	return &Transcript{changed: make(chan struct{})}
}

// Write appends p and wakes waiters.
func (tr *Transcript) Write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	close(tr.changed)
	tr.changed = make(chan struct{})
	return tr.buf.Write(p)
}

// String returns everything written so far.
func (tr *Transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// WaitFor reports whether the transcript contains text within limit.
func (tr *Transcript) WaitFor(t *testing.T, text string, limit time.Duration) bool {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		tr.mu.Lock()
		found, changed := strings.Contains(tr.buf.String(), text), tr.changed
		tr.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		}
	}
}

// MustSee waits for text within Timeout and fails the test if it never appears.
func (tr *Transcript) MustSee(t *testing.T, text string) {
	t.Helper()
	if !tr.WaitFor(t, text, Timeout) {
		t.Fatalf("never saw %q in output:\n%s", text, tr.String())
	}
}
