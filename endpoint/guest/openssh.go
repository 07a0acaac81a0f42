package guest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/atomicfile"
)

// OpenSSH interoperability: `portcullis proxy` runs as OpenSSH's ProxyCommand. The order of
// events decides the design. ssh starts the ProxyCommand and, without waiting for it, loads its
// identity and certificate files; only after the key exchange — which needs the Host, so after
// the proxy reached the CM and the relay — does it verify the Host key (reading known_hosts
// then) and ask its agent for keys. So the proxy:
//
//  1. makes a fresh per-connection Ed25519 key and asks the CM to connect with it;
//  2. adds the key with its session certificate to the user's ssh-agent (SSH_AUTH_SOCK) for
//     AgentLifetime — a certificate file would race with ssh's early loading of identities;
//  3. writes the Host key the CM pinned into KnownHosts under the name ssh was given;
//  4. dials the relay with its ticket and pipes stdin/stdout to it until either side ends.
//
// ssh then runs SSH end to end with the Host: the Host key is pinned through known_hosts
// (StrictHostKeyChecking yes), and the certificate binds the user to this session only.
const (
	// AgentLifetime is how long the agent keeps a session key; ssh authenticates well within it,
	// and the certificate is useless for any other session anyway.
	AgentLifetime = 2 * time.Minute
	// knownHostsMode is the mode of the known_hosts file the proxy maintains.
	knownHostsMode = 0o600
)

// ErrNoAgent reports a proxy run without an ssh-agent to hand the session key to.
var ErrNoAgent = errors.New("guest: no ssh-agent (SSH_AUTH_SOCK is not set): start one with eval $(ssh-agent)")

// OpenSSHProxy connects OpenSSH's ProxyCommand stream to a Host through a relay.
type OpenSSHProxy struct {
	// Guest asks the CM and dials the relay. Required.
	Guest *Client
	// Agent receives the session key and certificate. Required.
	Agent agent.Agent
	// KnownHosts is the known_hosts file ssh reads (UserKnownHostsFile). Required.
	KnownHosts string
	// Channels are the channel kinds asked for.
	Channels []string
}

// DialAgent connects to the ssh-agent named by SSH_AUTH_SOCK (a unix socket; on Windows also a
// named pipe, by default OpenSSH's agent pipe); close the returned closer.
func DialAgent() (agent.ExtendedAgent, io.Closer, error) {
	sock := agentSocket(os.Getenv("SSH_AUTH_SOCK"))
	if sock == "" {
		return nil, nil, ErrNoAgent
	}
	conn, err := dialAgent(sock)
	if err != nil {
		return nil, nil, fmt.Errorf("guest: ssh-agent %s: %w", sock, err)
	}
	return agent.NewClient(conn), conn, nil
}

// Run connects to host, known to ssh as alias, and pipes in and out through the relay until
// either side ends. It returns the CM's refusal (*DeniedError) before any byte is piped.
func (p *OpenSSHProxy) Run(ctx context.Context, host, alias string, in io.Reader, out io.Writer) error {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate session key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("session key: %w", err)
	}
	grant, err := p.Guest.RequestGrant(ctx, host, p.Channels, sshPub)
	if err != nil {
		return err
	}
	cert, err := p.hand(grant, key, alias)
	if cert != nil {
		// Once the connection is over its key is useless: take it out of the agent, so that the
		// next ssh to this Host does not offer it first (the Host would refuse it as wrong_session).
		defer func() { _ = p.Agent.Remove(cert) }()
	}
	if err != nil {
		return err
	}
	conn, err := p.Guest.DialRelay(ctx, grant)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(conn, in)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	_, err = io.Copy(out, conn)
	if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}

// hand gives ssh what it needs from the grant: the key and certificate in the agent, the
// pinned Host key in known_hosts.
func (p *OpenSSHProxy) hand(grant api.ConnectResponse, key ed25519.PrivateKey, alias string) (*ssh.Certificate, error) {
	certKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.Certificate))
	if err != nil {
		return nil, fmt.Errorf("certificate from CM: %w", err)
	}
	cert, ok := certKey.(*ssh.Certificate)
	if !ok {
		return nil, errors.New("certificate from CM is not an SSH certificate")
	}
	err = p.Agent.Add(agent.AddedKey{
		PrivateKey: key, Certificate: cert, LifetimeSecs: uint32(AgentLifetime / time.Second),
		Comment: "portcullis " + alias + " " + grant.SessionID,
	})
	if err != nil {
		return nil, fmt.Errorf("add the session key to ssh-agent: %w", err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.HostKey))
	if err != nil {
		return cert, fmt.Errorf("host key from CM: %w", err)
	}
	return cert, PinKnownHost(p.KnownHosts, alias, hostKey)
}

// PinKnownHost makes the known_hosts file name exactly key for alias, keeping other entries.
// Concurrent proxies serialise on a lock file beside it (an exclusive lock, released when it
// is closed); the file is replaced atomically.
func PinKnownHost(file, alias string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("known_hosts dir: %w", err)
	}
	lock, err := os.OpenFile(file+".lock", os.O_CREATE|os.O_RDWR, knownHostsMode)
	if err != nil {
		return fmt.Errorf("known_hosts lock: %w", err)
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		return fmt.Errorf("known_hosts lock: %w", err)
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 && fields[0] == alias {
			continue
		}
		buf.WriteString(sc.Text() + "\n")
	}
	buf.WriteString(alias + " " + string(ssh.MarshalAuthorizedKey(key)))
	return atomicfile.Write(file, buf.Bytes(), knownHostsMode)
}
