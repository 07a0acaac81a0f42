package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// epollWaiter is the Linux readWaiter: one epoll set, one goroutine (blocked in epoll_wait)
// for every parked direction of the server. Each watch is one-shot and carries a token, never
// the descriptor, so that a descriptor closed and reused meanwhile cannot wake another watch.
type epollWaiter struct {
	epfd, stopfd int
	mu           sync.Mutex
	next         int32
	wakes        map[int32]func()
	done         chan struct{}
	closeOnce    sync.Once
	closeErr     error
}

// stopToken marks the eventfd that stops the loop.
const stopToken = 0

func newReadWaiter() (readWaiter, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	stopfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("relay: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, stopfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: stopToken}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(stopfd)
		return nil, fmt.Errorf("relay: epoll: %w", err)
	}
	w := &epollWaiter{epfd: epfd, stopfd: stopfd, wakes: make(map[int32]func()), done: make(chan struct{})}
	go w.loop()
	return w, nil
}

func (w *epollWaiter) watch(c net.Conn, wake func()) (func(), error) {
	rc, ok := rawConn(c)
	if !ok {
		return nil, errors.New("relay: not a TCP connection")
	}
	tok := w.add(wake)
	var cerr error
	err := rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: tok}
		cerr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err = errors.Join(err, cerr); err != nil {
		w.take(tok)
		return nil, fmt.Errorf("relay: watch: %w", err)
	}
	return func() {
		if f := w.take(tok); f != nil {
			f()
		}
	}, nil
}

func (w *epollWaiter) forget(c net.Conn) {
	if rc, ok := rawConn(c); ok {
		_ = rc.Control(func(fd uintptr) { _ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
}

func (w *epollWaiter) close() error {
	w.closeOnce.Do(func() {
		_, err := unix.Write(w.stopfd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		<-w.done
		w.closeErr = errors.Join(err, unix.Close(w.epfd), unix.Close(w.stopfd))
	})
	return w.closeErr
}

func (w *epollWaiter) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.wakes)
}

// add registers wake under a fresh token.
func (w *epollWaiter) add(wake func()) int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		w.next++
		if w.next <= stopToken {
			w.next = stopToken + 1
		}
		if _, used := w.wakes[w.next]; !used {
			w.wakes[w.next] = wake
			return w.next
		}
	}
}

// take removes and returns tok's wake; nil when it was taken already.
func (w *epollWaiter) take(tok int32) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.wakes[tok]
	delete(w.wakes, tok)
	return f
}

// loop wakes the watches whose connections became readable until close.
func (w *epollWaiter) loop() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == stopToken {
				return
			}
			if f := w.take(ev.Fd); f != nil {
				f()
			}
		}
	}
}
