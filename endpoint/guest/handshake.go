package guest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
)

// ErrHostKeyMismatch reports a Host key other than the one the Connection Manager pinned.
var ErrHostKeyMismatch = errors.New("guest: host key does not match the pinned key")

// SSHConfig configures the Guest's end of one session.
type SSHConfig struct {
	// User is the SSH user name: the certificate's principal (the subject). Required.
	User string
	// Signer authenticates with the certificate: ssh.NewCertSigner(cert, key). Required.
	Signer ssh.Signer
	// HostKey is the Host key pinned by the Connection Manager; no other is accepted. Required.
	HostKey ssh.PublicKey
	// Level is the encryption level this end uses; "" means access.DefaultLevel.
	Level string
	// Challenge answers the questions of the Host's own schemes (keyboard-interactive, e.g. a
	// host-local password); nil answers none, so such a scheme refuses.
	Challenge ssh.KeyboardInteractiveChallenge
	// Warnings receives the Host's notices, such as the session's approaching end; nil discards them.
	Warnings io.Writer
}

// Validate returns every problem of the configuration at once, each wrapping
// endpoint.ErrBadConfig.
func (c SSHConfig) Validate() error {
	var errs []error
	if c.User == "" {
		errs = append(errs, fmt.Errorf("%w: no user", endpoint.ErrBadConfig))
	}
	if c.Signer == nil {
		errs = append(errs, fmt.Errorf("%w: no signer", endpoint.ErrBadConfig))
	}
	if c.HostKey == nil {
		errs = append(errs, fmt.Errorf("%w: no pinned host key", endpoint.ErrBadConfig))
	}
	if _, err := access.LevelRank(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("%w: encryption: %w", endpoint.ErrBadConfig, err))
	}
	return errors.Join(errs...)
}

// Handshake runs the Guest's SSH handshake on a relayed connection and authenticates: the Host
// must present the pinned key, the algorithms come from the encryption level, and the Guest
// authenticates with its certificate (and answers the Host's own questions with
// cfg.Challenge). A refusal by the Host comes back as a *endpoint.RefusedError (errors.Is finds
// the sentinel, e.g. access.ErrExpired). On any error conn is closed.
func Handshake(conn net.Conn, cfg SSHConfig) (*ssh.Client, error) {
	c, _, err := handshake(conn, cfg)
	return c, err
}

// handshake is Handshake; the channel is closed once every notice of the Host has been
// printed (after the connection closed).
func handshake(conn net.Conn, cfg SSHConfig) (*ssh.Client, <-chan struct{}, error) {
	if err := cfg.Validate(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	algs, err := endpoint.Algorithms(cfg.Level)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	var banner bannerRecorder
	conf := &ssh.ClientConfig{
		Config:          algs,
		User:            cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer), ssh.KeyboardInteractive(challenge(cfg.Challenge))},
		HostKeyCallback: pinnedHostKey(cfg.HostKey),
		BannerCallback:  banner.record,
		ClientVersion:   "SSH-2.0-Portcullis",
	}
	_ = conn.SetDeadline(time.Now().Add(endpoint.HandshakeTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, conn.RemoteAddr().String(), conf)
	if err != nil {
		if refused, ok := endpoint.ParseRefusal(banner.text()); ok {
			// The refusal is the whole story: the SSH library's account of the failed
			// authentication ("no supported methods remain") only hides it.
			return nil, nil, fmt.Errorf("guest: ssh handshake: %w", refused)
		}
		return nil, nil, fmt.Errorf("guest: ssh handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	reqs, printed := printNotices(reqs, orDiscard(cfg.Warnings))
	return ssh.NewClient(c, chans, reqs), printed, nil
}

// challenge is the Guest's keyboard-interactive answerer: c, or one that answers no question.
func challenge(c ssh.KeyboardInteractiveChallenge) ssh.KeyboardInteractiveChallenge {
	if c != nil {
		return c
	}
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		if len(questions) > 0 {
			return nil, errors.New("guest: the Host asks questions and this Guest cannot answer them")
		}
		return nil, nil
	}
}

// pinnedHostKey accepts exactly the pinned key (ssh.FixedHostKey), naming both keys otherwise.
func pinnedHostKey(pinned ssh.PublicKey) ssh.HostKeyCallback {
	fixed := ssh.FixedHostKey(pinned)
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := fixed(hostname, remote, key); err != nil {
			return fmt.Errorf("%w: pinned %s, offered %s: %w", ErrHostKeyMismatch, fingerprint(pinned), fingerprint(key), err)
		}
		return nil
	}
}

// fingerprint names a key for messages; a nil key is "none".
func fingerprint(key ssh.PublicKey) string {
	if key == nil {
		return "none"
	}
	return ssh.FingerprintSHA256(key)
}

// bannerRecorder keeps the first endpoint.MaxRefusalBytes of the banners the Host sent.
type bannerRecorder struct {
	mu  sync.Mutex
	buf strings.Builder
}

// record is the ssh.BannerCallback.
func (b *bannerRecorder) record(message string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := endpoint.MaxRefusalBytes - b.buf.Len(); room > 0 {
		b.buf.WriteString(message[:min(room, len(message))])
	}
	return nil
}

// text returns what was recorded.
func (b *bannerRecorder) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
