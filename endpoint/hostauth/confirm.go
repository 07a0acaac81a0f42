package hostauth

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The confirm socket protocol, one exchange per session on a unix socket of mode 0600:
//
//	notifier connects and waits
//	Host  → notifier: one ConfirmQuestion as a JSON line, when a session needs confirmation
//	notifier → Host:  "yes\n" accepts; any other line, or none before the deadline, denies
//
// then the Host closes the connection; a notifier reconnects for the next question. Several
// notifiers may wait at once; each question goes to one of them.
const (
	// DefaultConfirmTimeout is how long the local user has to accept a session.
	DefaultConfirmTimeout = 30 * time.Second
	// maxAnswerBytes bounds a notifier's answer line.
	maxAnswerBytes = 256
	// confirmSocketMode lets only the Host agent's own user answer; confirmGroupMode adds the
	// socket's group (a desktop user's, when the agent runs as root).
	confirmSocketMode, confirmGroupMode = 0o600, 0o660
)

// ConfirmQuestion is what a notifier shows the Host's local user.
type ConfirmQuestion struct {
	// User is the subject asking to connect.
	User string `json:"user"`
	// Groups are the subject's groups.
	Groups []string `json:"groups"`
	// SessionID names the session.
	SessionID string `json:"session_id"`
	// DecisionID names the CM's decision that allowed it.
	DecisionID string `json:"decision_id"`
	// Host is this Host's name.
	Host string `json:"host"`
	// Channels are the channel kinds the session may open.
	Channels []string `json:"channels"`
	// Deadline is when an unanswered question denies.
	Deadline time.Time `json:"deadline"`
}

// question is a pending confirmation.
type question struct {
	ConfirmQuestion
	answer chan bool
}

// Confirm asks the Host's local user to accept each session through notifiers connected to a
// local socket (see Serve). No notifier, no answer or any answer but "yes" denies.
type Confirm struct {
	// Timeout is how long to wait for an answer; 0 means DefaultConfirmTimeout.
	Timeout time.Duration
	once    sync.Once
	queue   chan *question
}

// init makes the queue of pending questions, once.
func (c *Confirm) init() {
	c.once.Do(func() { c.queue = make(chan *question) })
}

// timeout is how long to wait for an answer.
func (c *Confirm) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultConfirmTimeout
	}
	return c.Timeout
}

// Authorize waits until a notifier accepts or refuses the session, or the timeout passes.
func (c *Confirm) Authorize(ctx context.Context, req *Request) error {
	c.init()
	timeout := c.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := &question{answer: make(chan bool, 1), ConfirmQuestion: ConfirmQuestion{
		User: req.User, Groups: req.Groups, SessionID: req.SessionID, DecisionID: req.DecisionID,
		Host: req.Host, Channels: req.Obligations.Channels, Deadline: time.Now().Add(timeout),
	}}
	select {
	case c.queue <- q:
	case <-ctx.Done():
		return fmt.Errorf("no local user answered within %v (no notifier is connected)", timeout)
	}
	select {
	case ok := <-q.answer:
		if !ok {
			return errors.New("the Host's local user declined the session")
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the Host's local user did not answer within %v", timeout)
	}
}

// ListenConfirm listens on the unix socket path for notifiers, replacing a stale socket. Only
// the agent's own user may connect (mode 0600) — and members of group, when it is named (mode
// 0660), so that a desktop notifier running as the Host's local user can answer a root agent.
// On Windows it refuses (errConfirmPlatform): there the socket file's mode limits nobody.
func ListenConfirm(path, group string) (net.Listener, error) {
	if err := confirmPlatform(); err != nil {
		return nil, err
	}
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("hostauth: confirm socket group: %w", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("hostauth: confirm socket group %s: non-numeric gid %q", group, g.Gid)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hostauth: confirm socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("hostauth: confirm socket: %w", err)
	}
	mode := os.FileMode(confirmSocketMode)
	if gid >= 0 {
		mode = confirmGroupMode
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("hostauth: confirm socket group: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("hostauth: confirm socket: %w", err)
	}
	return ln, nil
}

// Serve hands questions to the notifiers connecting to ln until ctx ends; it closes ln.
func (c *Confirm) Serve(ctx context.Context, ln net.Listener) error {
	c.init()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("hostauth: confirm socket: %w", err)
		}
		wg.Go(func() { c.serveNotifier(ctx, conn) })
	}
}

// serveNotifier gives one waiting notifier the next question and relays its answer.
func (c *Confirm) serveNotifier(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	lines := make(chan string, 1)
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(conn, maxAnswerBytes)
		line, err := r.ReadSlice('\n')
		if err == nil {
			lines <- strings.TrimSpace(string(line))
		}
	}()
	var q *question
	select {
	case q = <-c.queue:
	case <-lines: // the notifier spoke out of turn or left
		return
	case <-ctx.Done():
		return
	}
	data, _ := json.Marshal(q.ConfirmQuestion)
	_ = conn.SetDeadline(q.Deadline)
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return // the question times out unanswered: a denial
	}
	if line, ok := <-lines; ok {
		q.answer <- strings.EqualFold(line, "yes")
	}
}
