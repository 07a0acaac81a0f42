package endpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
)

// Guest is the client side: it asks the CM to connect, dials the CS with its ticket and runs
// the end-to-end SSH client over the spliced stream. It never listens.
type Guest struct {
	// CMURL is the CM's base URL.
	CMURL string
	// RootCAs verifies the CM's and the CS's TLS certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// IDToken is the signed-in user's OIDC ID token.
	IDToken string
	// Encryption is the encryption level asked for; default "very_high".
	Encryption string
}

// DeniedError is the CM's refusal of a connection, with the policy's reasons.
type DeniedError struct {
	Reasons    []string
	DecisionID string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("connection denied (decision %s): %s", e.DecisionID, strings.Join(e.Reasons, "; "))
}

// Session is a live end-to-end SSH connection to a Host.
type Session struct {
	*ssh.Client
	// Grant is the CM's answer that allowed the session.
	Grant api.ConnectResponse
}

// Connect asks the CM for a session to host with the given channels and opens it.
func (g *Guest) Connect(ctx context.Context, host string, channels []string) (*Session, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate session key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	level := g.Encryption
	if level == "" {
		level = LevelVeryHigh
	}
	req := api.ConnectRequest{Host: host, Channels: channels, Encryption: level, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var grant api.ConnectResponse
	tlsConf := &tls.Config{RootCAs: g.RootCAs, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	if err := api.Call(ctx, hc, http.MethodPost, g.CMURL+api.PathConnect, g.IDToken, req, &grant); err != nil {
		if se, ok := api.AsStatus(err); ok && se.Body.Code == api.CodeDenied {
			return nil, &DeniedError{Reasons: se.Body.Reasons, DecisionID: se.Body.DecisionID}
		}
		return nil, fmt.Errorf("connect to %s: %w", host, err)
	}
	signer, hostKey, err := grantKeys(grant, key)
	if err != nil {
		return nil, err
	}
	conn, err := relay.Dial(ctx, grant.Relay.Addr, tlsConf, grant.Ticket)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", grant.Relay.ID, err)
	}
	client, err := NewSSHClient(conn, SSHClientConfig{User: grant.Principal, Signer: signer, HostKey: hostKey, Level: level})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("end-to-end SSH with %s: %w", host, err)
	}
	return &Session{Client: client, Grant: grant}, nil
}

// grantKeys turns the CM's answer into the certificate signer and the pinned host key.
func grantKeys(grant api.ConnectResponse, key ed25519.PrivateKey) (ssh.Signer, ssh.PublicKey, error) {
	certKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.Certificate))
	if err != nil {
		return nil, nil, fmt.Errorf("certificate from CM: %w", err)
	}
	cert, ok := certKey.(*ssh.Certificate)
	if !ok {
		return nil, nil, errors.New("certificate from CM is not an SSH certificate")
	}
	keySigner, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("session key: %w", err)
	}
	signer, err := ssh.NewCertSigner(cert, keySigner)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate does not match the session key: %w", err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(grant.HostKey))
	if err != nil {
		return nil, nil, fmt.Errorf("host key from CM: %w", err)
	}
	return signer, hostKey, nil
}
