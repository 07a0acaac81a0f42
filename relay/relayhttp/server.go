package relayhttp

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/relay"
)

// Defaults of the Server's zero-valued fields.
const (
	// DefaultHold is how long a recv request waits for data before answering 204.
	DefaultHold = 10 * time.Second
	// DefaultIdleTimeout is how long a tunnel may go without a request before it is cut.
	DefaultIdleTimeout = 45 * time.Second
	// DefaultMaxTunnels bounds the tunnels at once: as many as a relay.Server with its default
	// limits may hold (halves in their handshake, being refused, waiting and spliced), so that
	// the relay's fair admission of half-open tunnels, not this bound, decides who waits.
	DefaultMaxTunnels = 2*relay.DefaultMaxHandshakes + relay.DefaultMaxPending + 2*relay.DefaultMaxLive
	// streamLinger is how long a recv answer that carried a chunk waits for the next one before
	// it ends: a proxy that holds an answer until its end delays a chunk by no more.
	streamLinger = 50 * time.Millisecond
	// acceptQueue bounds opened tunnels waiting for Accept.
	acceptQueue = 256
	// finishedLinger is how long an ended tunnel stays after its last request, so the client
	// can fetch its last chunks (a refusal, the end of a session).
	finishedLinger = 10 * time.Second
	// pressedLinger replaces finishedLinger when the tunnels are at their bound: an ended
	// tunnel nobody fetches from gives its place to a new one.
	pressedLinger = time.Second
)

// Server is the CS side of the HTTP transport: an http.Handler for the tunnel endpoints and a
// net.Listener whose Accept returns each opened tunnel as a connection, for relay.Server.Serve.
// Create it with NewServer and run Sweep periodically (Run does).
type Server struct {
	// Hold bounds a recv long-poll; 0 means DefaultHold.
	Hold time.Duration
	// IdleTimeout cuts a tunnel without requests; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxTunnels bounds the tunnels, open or ended and lingering; 0 means DefaultMaxTunnels.
	// At the bound, ended tunnels idle for pressedLinger make room; when none is, an open
	// request is refused with access.ErrOverloaded.
	MaxTunnels int
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	tls     *tls.Config
	addr    net.Addr
	accept  chan net.Conn
	done    chan struct{}
	closeMu sync.Once
	mu      sync.Mutex
	tunnels map[string]*tunnel
	frames  framePool // the inbound chunks' buffers, shared by the tunnels
}

// tunnel is one open tunnel on the CS.
type tunnel struct {
	*stream
}

// NewServer returns a Server whose tunnels run TLS with conf (the CS's certificate, as on its
// TCP port; PinTLS narrows it to TLS 1.2 with AES-256-GCM) and that reports addr as its
// listening address.
func NewServer(conf *tls.Config, addr net.Addr) *Server {
	return &Server{tls: PinTLS(conf), addr: addr, accept: make(chan net.Conn, acceptQueue), done: make(chan struct{}), tunnels: map[string]*tunnel{}}
}

// Conn is the CS's end of a tunnel: the TLS connection over the tunnel's chunk stream, for
// relay.Server (it names its transport and takes the relay's word that its half is
// authenticated).
type Conn struct {
	*tls.Conn
	stream *stream
}

// Transport names the transport ("http") for the relay's session records.
func (c *Conn) Transport() string { return c.stream.transport }

// Authenticated lifts the tunnel's half-open bounds once the relay verified its ticket.
func (c *Conn) Authenticated() { c.stream.Authenticated() }

// OnProgress has f called whenever bytes of the half's handshake arrive, until the half is
// authenticated: over HTTP each of the handshake's flights is a request or more, so the
// relay's admission counts each one as progress, not only the end of TLS.
func (c *Conn) OnProgress(f func()) {
	c.stream.mu.Lock()
	defer c.stream.mu.Unlock()
	c.stream.progressed = f
}

// Accept returns the next opened tunnel; net.ErrClosed after Close.
func (s *Server) Accept() (net.Conn, error) {
	select {
	case c := <-s.accept:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close stops opening new tunnels; open tunnels go on until their sessions end.
func (s *Server) Close() error {
	s.closeMu.Do(func() { close(s.done) })
	return nil
}

// Addr is the address given to NewServer.
func (s *Server) Addr() net.Addr { return s.addr }

// Tunnels returns the number of open tunnels.
func (s *Server) Tunnels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tunnels)
}

// Sweep cuts tunnels idle past the idle timeout and forgets ended ones after their linger.
func (s *Server) Sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now, finishedLinger)
}

// sweepLocked cuts idle tunnels and forgets the ones ended for linger with no request since;
// call with mu held. It returns how many tunnels it forgot.
func (s *Server) sweepLocked(now time.Time, linger time.Duration) int {
	idle := orDefault(s.IdleTimeout, DefaultIdleTimeout)
	n := len(s.tunnels)
	for id, t := range s.tunnels {
		touched, ended := t.idleSince()
		switch {
		case !ended.IsZero() && now.Sub(latest(touched, ended)) > linger:
			delete(s.tunnels, id)
		case now.Sub(touched) > idle:
			t.fail(fmt.Errorf("%w: no request for %s", errReset, idle))
			delete(s.tunnels, id)
		}
	}
	return n - len(s.tunnels)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Run sweeps every second until done closes.
func (s *Server) Run(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.Sweep(now)
		}
	}
}

// ServeHTTP serves the tunnel endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case PathPing:
		w.WriteHeader(http.StatusNoContent)
	case PathOpen:
		s.open(w, r)
	case PathSend:
		s.send(w, r)
	case PathRecv:
		s.recv(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, openLen+1))
	if err != nil {
		return
	}
	if err := parseOpen(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t, id, err := s.newTunnel(remoteAddr(r))
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	select {
	case s.accept <- &Conn{Conn: tls.Server(t.stream, s.tls), stream: t.stream}:
	default:
		s.forget(id)
		s.refuse(w, r, fmt.Errorf("%w: %d tunnels waiting for the relay", access.ErrOverloaded, acceptQueue))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, id)
}

// newTunnel registers a new tunnel.
func (s *Server) newTunnel(remote net.Addr) (*tunnel, string, error) {
	var raw [idLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("relayhttp: tunnel id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	t := &tunnel{stream: newStream(s.addr, remote, &s.frames)}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return nil, "", fmt.Errorf("relayhttp: %w", access.ErrShuttingDown)
	default:
	}
	limit := orDefault(s.MaxTunnels, DefaultMaxTunnels)
	if len(s.tunnels) >= limit && s.sweepLocked(time.Now(), pressedLinger) == 0 {
		return nil, "", fmt.Errorf("relayhttp: %w: %d tunnels", access.ErrOverloaded, limit)
	}
	s.tunnels[id] = t
	return t, id, nil
}

// refuse answers an open request the CS will not serve with the refusal's code, as the
// relay's frameRefused would: the status of the code and the code alone as the body.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := access.CodeOf(err)
	s.logger().Debug("relayhttp: open refused", "remote", r.RemoteAddr, "code", code, "err", err) // a flood: one line each would drown the log
	http.Error(w, string(code), code.HTTPStatus())
}

func (s *Server) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tunnels, id)
}

// lookup finds the tunnel a request names, with its sequence number; it answers the request
// and returns nil when it cannot.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, method string) (*tunnel, string, uint64) {
	if r.Method != method {
		http.Error(w, method+" only", http.StatusMethodNotAllowed)
		return nil, "", 0
	}
	q := r.URL.Query()
	id, err := parseID(q.Get("s"))
	if err == nil {
		var seq uint64
		if seq, err = parseSeq(q.Get("q")); err == nil {
			s.mu.Lock()
			t := s.tunnels[id]
			s.mu.Unlock()
			if t == nil {
				http.Error(w, "relayhttp: no such tunnel", http.StatusNotFound)
				return nil, "", 0
			}
			return t, id, seq
		}
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
	return nil, "", 0
}

// send takes a run of chunks from seq on (frames; at most span), delivering each as it arrives.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	t, _, seq := s.lookup(w, r, http.MethodPost)
	if t == nil {
		return
	}
	body := io.LimitReader(r.Body, maxFrames)
	for i := uint64(0); ; i++ {
		c, err := readFrame(body, &s.frames)
		switch {
		case errors.Is(err, io.EOF) && i > 0:
			w.WriteHeader(http.StatusNoContent)
			return
		case i == span && err == nil:
			err = fmt.Errorf("%w: more than %d chunks in one request", ErrBadChunk, span)
		case errors.Is(err, io.EOF):
			err = fmt.Errorf("%w: no chunk", ErrBadChunk)
		}
		if err != nil {
			if errors.Is(err, ErrBadChunk) {
				s.logger().Info("relayhttp: refused a chunk", "remote", r.RemoteAddr, "err", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
			}
			return // else the request broke off: the client sends it again
		}
		if err := t.deliver(seq+i, c, r.Context().Done()); err != nil {
			s.answer(w, err, http.StatusNoContent)
			return
		}
	}
}

// recv answers up to n chunks from seq on, each written as soon as it is due: the first waits
// up to the hold (204 when none came), each further one up to streamLinger, after which the
// answer ends and the client asks for the rest.
func (s *Server) recv(w http.ResponseWriter, r *http.Request) {
	t, _, seq := s.lookup(w, r, http.MethodGet)
	if t == nil {
		return
	}
	q := r.URL.Query()
	ack, err := parseSeq(q.Get("a"))
	var n uint64
	if err == nil {
		n, err = parseCount(q.Get("n"))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	hold := time.Now().Add(orDefault(s.Hold, DefaultHold))
	rc := http.NewResponseController(w)
	for i := range n {
		c, ok, err := t.chunkAt(seq+i, ack, hold, r.Context().Done())
		if i == 0 && (err != nil || !ok) {
			s.answer(w, err, http.StatusNoContent)
			return
		}
		if err != nil || !ok {
			return
		}
		if i == 0 {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
		}
		err = writeChunk(w, rc, c)
		c.seg.release()
		if err != nil || c.flags&flagFin != 0 {
			return
		}
		hold = time.Now().Add(streamLinger)
	}
}

// writeChunk writes c as a frame of a recv answer and flushes it to the client.
func writeChunk(w http.ResponseWriter, rc *http.ResponseController, c chunk) error {
	if _, err := w.Write(frameHead(c.flags, len(c.data))); err != nil {
		return err
	}
	if _, err := w.Write(c.data); err != nil {
		return err
	}
	return rc.Flush()
}

// answer writes the status of a stream error, or okStatus.
func (s *Server) answer(w http.ResponseWriter, err error, okStatus int) {
	switch {
	case err == nil:
		w.WriteHeader(okStatus)
	case errors.Is(err, errWindow):
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, errGone):
		http.Error(w, err.Error(), http.StatusGone)
	default:
		http.Error(w, err.Error(), http.StatusNotFound)
	}
}

// remoteAddr is the request's peer (for HTTP through a proxy: the proxy).
func remoteAddr(r *http.Request) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", r.RemoteAddr); err == nil {
		return a
	}
	return &net.TCPAddr{}
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
