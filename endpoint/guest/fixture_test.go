package guest

import (
	"context"
	"net"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/host"
	"github.com/portcullis/portcullis/internal/sshtest"
)

// The Guest's tests talk to the real Host side (package host) over loopback TCP.

// testTimeout bounds every wait in these tests; reaching it is a hang, not slowness.
const testTimeout = sshtest.Timeout

// fixture is the shared SSH key fixture, with the Guest tests' own helpers as methods.
type fixture struct{ sshtest.Fixture }

// newFixture returns keys for a session that allows every channel.
func newFixture(t testing.TB) *fixture { return &fixture{*sshtest.NewFixture(t)} }

// serverConfig is the Host's configuration for the fixture's session.
func (f *fixture) serverConfig() host.SSHConfig {
	return host.SSHConfig{
		HostKey:     f.HostKey,
		UserCA:      f.CA.PublicKey(),
		SessionID:   f.SessionID,
		Obligations: f.Obligations,
		SFTPReadMax: endpoint.SFTPLargePacket,
	}
}

// clientConfig is the Guest's configuration authenticating with cert.
func (f *fixture) clientConfig(t testing.TB, cert *ssh.Certificate) SSHConfig {
	t.Helper()
	signer, err := ssh.NewCertSigner(cert, f.GuestKey)
	if err != nil {
		t.Fatal(err)
	}
	return SSHConfig{User: sshtest.Principal, Signer: signer, HostKey: f.HostKey.PublicKey()}
}

// pair is one Guest↔Host SSH connection over a loopback TCP connection.
type pair struct {
	client    *ssh.Client // nil when the handshake failed
	clientErr error
	served    func() error // host.ServeSSH's result (waits for it)
}

// connect runs host.ServeSSH and Handshake over loopback TCP.
func connect(t testing.TB, ctx context.Context, scfg host.SSHConfig, ccfg SSHConfig) pair {
	t.Helper()
	conn, served := sshtest.Loopback(t, func(c net.Conn) error { return host.ServeSSH(ctx, c, scfg) })
	client, err := Handshake(conn, ccfg)
	if client != nil {
		t.Cleanup(func() { _ = client.Close() })
	}
	return pair{client: client, clientErr: err, served: served}
}

// connected is connect for a handshake that must succeed.
func connected(t testing.TB, f *fixture) *ssh.Client {
	t.Helper()
	p := connect(t, t.Context(), f.serverConfig(), f.clientConfig(t, f.Cert(t, nil)))
	if p.clientErr != nil {
		t.Fatalf("Handshake: %v (host: %v)", p.clientErr, p.served())
	}
	return p.client
}

// newTranscript returns an empty transcript of output.
func newTranscript() *sshtest.Transcript { return sshtest.NewTranscript() }
