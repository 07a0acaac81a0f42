package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/store"
)

// Shape of the idle fleet.
const (
	// idleHostCertTTL is the lifetime of a simulated Host's certificate.
	idleHostCertTTL = 24 * time.Hour
	// idleDialWorkers open the simulated Hosts' connections concurrently.
	idleDialWorkers = 64
	// idleRetry is the pause of a simulated Host whose long-poll failed or was turned away.
	idleRetry = time.Second
	// idleDialAttempts is how often a simulated Host tries to connect before it gives up.
	idleDialAttempts = 5
	// idleReadBuffer is a simulated Host's read buffer: an empty long-poll answer is a few
	// hundred bytes.
	idleReadBuffer = 2048
)

// seededHost is a Host enrolled for the idle fleet: its name and client certificate.
type seededHost struct {
	name string
	cert tls.Certificate
}

// seedIdleHosts enrols n Hosts named idle-0 … idle-(n-1) through the stack's store, as the CM's
// enrolment does (an enrollment token consumed by EnrollHost), and signs each a client
// certificate with the stack's CA naming it, as the CM would: the CM authenticates them as it
// does every Host (certificate chain, common name, serial in the store). To make 50,000 of them
// cheaply, the Hosts share one Ed25519 key (each real Host has its own; the CM never compares
// keys across Hosts), and the certificates are signed on every CPU while the store enrols the
// Hosts already signed.
func seedIdleHosts(ctx context.Context, log *slog.Logger, st *stack, n int) ([]seededHost, error) {
	ca, err := certs.LoadCA(filepath.Join(st.c.CertsDir(), certs.CAFile), filepath.Join(st.c.CertsDir(), certs.CAKeyFile))
	if err != nil {
		return nil, err
	}
	key, authorized, err := newKey()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, st.c.StoreDSN(), nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	start := time.Now()
	hosts := make([]seededHost, n)
	signed := make(chan int, 1024) // the store enrols each Host as soon as its certificate is signed
	signing := make(chan error, 1)
	go func() {
		defer close(signed)
		signing <- parallel(n, runtime.NumCPU(), func(i int) error {
			der, err := ca.IssueClientCert(key.Public(), "host:"+idleHostID(i), idleHostCertTTL)
			if err != nil {
				return err
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			hosts[i] = seededHost{name: idleHostName(i), cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}
			signed <- i
			return nil
		})
	}()
	var enrolErr error
	for i := range signed {
		if enrolErr == nil {
			enrolErr = enrollIdleHost(ctx, db, i, authorized, hosts[i].cert.Leaf.SerialNumber.String())
		}
	}
	if err := errors.Join(<-signing, enrolErr); err != nil {
		return nil, fmt.Errorf("enrol idle Hosts: %w", err)
	}
	log.Info("bench: idle Hosts enrolled", "hosts", n, "took", time.Since(start).Round(time.Millisecond))
	return hosts, nil
}

func idleHostID(i int) string   { return fmt.Sprintf("h_idle_%06d", i) }
func idleHostName(i int) string { return fmt.Sprintf("idle-%d", i) }

// enrollIdleHost creates an enrollment token for idle Host i and enrols it with it.
func enrollIdleHost(ctx context.Context, db *store.DB, i int, authorized, serial string) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	hash := sha256.Sum256(secret)
	now := time.Now()
	tok := store.EnrollmentToken{
		ID: fmt.Sprintf("et_idle_%06d", i), Hash: hash[:], Tags: hostTags, Tenant: "acme", Kind: store.TokenKindHost,
		CreatedBy: adminMail, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := db.CreateEnrollmentToken(ctx, tok); err != nil {
		return fmt.Errorf("enrollment token of %s: %w", idleHostName(i), err)
	}
	h := store.Host{ID: idleHostID(i), Name: idleHostName(i), OS: "linux", PublicKey: []byte(authorized + "\n"), CertSerial: serial}
	if _, err := db.EnrollHost(ctx, hash[:], h, now); err != nil {
		return fmt.Errorf("enrol %s: %w", h.Name, err)
	}
	return nil
}

// idleFleet is the simulated Hosts holding long-polls on one CM, each on its own TLS
// connection, as each real Host is its own machine.
type idleFleet struct {
	addr, serverName string
	roots            *x509.CertPool
	mu               sync.Mutex
	conns            []net.Conn
	// got receives the connection requests the Hosts collect, by Host name.
	got chan idleDelivery
	// reconnects counts the connections the Hosts had to open again after the first.
	reconnects atomic.Int64
	// ctx ends every Host's poller; stop ends it.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// idleDelivery is a connection request a simulated Host collected.
type idleDelivery struct {
	host string
	at   time.Time
	reqs []api.HostRequest
}

func newIdleFleet(cmURL string, roots *x509.CertPool) (*idleFleet, error) {
	u, err := url.Parse(cmURL)
	if err != nil {
		return nil, fmt.Errorf("CM URL: %w", err)
	}
	return &idleFleet{addr: u.Host, serverName: u.Hostname(), roots: roots, got: make(chan idleDelivery, 16)}, nil
}

// start connects the Hosts and has each long-poll until close; it returns once every one of
// them has sent its first long-poll. It may be called again to add more Hosts.
func (f *idleFleet) start(ctx context.Context, hosts []seededHost) error {
	if f.ctx == nil {
		f.ctx, f.stop = context.WithCancel(ctx)
	}
	ctx = f.ctx
	return parallel(len(hosts), idleDialWorkers, func(i int) error {
		conn, err := f.connect(ctx, hosts[i])
		if err != nil {
			return err
		}
		f.wg.Go(func() { f.poll(ctx, hosts[i], conn) })
		return nil
	})
}

// connect dials Host h and sends its first long-poll, trying again after a pause as the Host
// agent does when the CM is busy or refuses the connection.
func (f *idleFleet) connect(ctx context.Context, h seededHost) (*tls.Conn, error) {
	var errs []error
	for attempt := range idleDialAttempts {
		conn, err := f.dial(ctx, h)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if !waitOrEnd(ctx, time.Duration(attempt+1)*idleRetry) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dial opens Host h's TLS connection and sends its first long-poll.
func (f *idleFleet) dial(ctx context.Context, h seededHost) (*tls.Conn, error) {
	d := tls.Dialer{Config: &tls.Config{RootCAs: f.roots, ServerName: f.serverName, Certificates: []tls.Certificate{h.cert}, MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(ctx, "tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", h.name, err)
	}
	conn := c.(*tls.Conn)
	if err := f.send(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("long-poll of %s: %w", h.name, err)
	}
	f.mu.Lock()
	f.conns = append(f.conns, conn)
	f.mu.Unlock()
	return conn, nil
}

// send writes one long-poll request on conn.
func (f *idleFleet) send(conn net.Conn) error {
	_, err := io.WriteString(conn, "GET "+api.PathHostRequests+" HTTP/1.1\r\nHost: "+f.addr+"\r\n\r\n")
	return err
}

// poll reads the answers to Host h's long-polls on conn and sends the next, until ctx ends or
// the connection breaks; a Host turned away waits for the pause the CM names.
func (f *idleFleet) poll(ctx context.Context, h seededHost, conn *tls.Conn) {
	br := bufio.NewReaderSize(conn, idleReadBuffer)
	for ctx.Err() == nil {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if conn = f.reconnect(ctx, h, conn); conn == nil {
				return // closed at the end of the section, or the CM refuses the Host
			}
			br.Reset(conn)
			continue
		}
		pause := time.Duration(0)
		var reqs api.HostRequests
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&reqs)
		} else {
			pause = idleRetry
			if s, perr := strconv.Atoi(resp.Header.Get(api.HeaderRetryAfter)); perr == nil && s > 0 {
				pause = time.Duration(s) * time.Second
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && len(reqs.Requests) > 0 {
			select {
			case f.got <- idleDelivery{host: h.name, at: time.Now(), reqs: reqs.Requests}:
			default:
			}
		}
		if pause > 0 && !waitOrEnd(ctx, pause) {
			return
		}
		if f.send(conn) != nil {
			if conn = f.reconnect(ctx, h, conn); conn == nil {
				return
			}
			br.Reset(conn)
		}
	}
}

// reconnect replaces Host h's broken connection, as the Host agent would; nil when ctx ended
// or the CM cannot be reached.
func (f *idleFleet) reconnect(ctx context.Context, h seededHost, broken net.Conn) *tls.Conn {
	broken.Close()
	if ctx.Err() != nil {
		return nil
	}
	f.reconnects.Add(1)
	conn, err := f.connect(ctx, h)
	if err != nil {
		return nil
	}
	return conn
}

// close ends every Host's connection and waits for its poller.
func (f *idleFleet) close() {
	if f.stop != nil {
		f.stop()
	}
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// waitOrEnd waits d; false when ctx ended first.
func waitOrEnd(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
