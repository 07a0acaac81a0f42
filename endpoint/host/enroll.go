package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/internal/privatedir"
	"github.com/portcullis/portcullis/ticket"
)

// Files a Host keeps in its state directory.
const (
	hostKeyFile   = "host.key"
	hostCertFile  = "host.crt"
	hostStateFile = "host.json"
)

// hostState is what the Host remembers about its enrollment.
type hostState struct {
	HostID    string            `json:"host_id"`
	Name      string            `json:"name"`
	SSHUserCA string            `json:"ssh_user_ca"`
	Tags      map[string]string `json:"tags"`
	Tenant    string            `json:"tenant"`
}

// hostRuntime is an enrolled Host's live identity.
type hostRuntime struct {
	state  hostState
	key    ed25519.PrivateKey
	signer ssh.Signer
	userCA ssh.PublicKey
	dialer endpoint.RelayDialer
	// client talks to the CM with the current client certificate; renewals replace it.
	client atomic.Pointer[http.Client]
	// leaf is the current client certificate.
	leaf atomic.Pointer[x509.Certificate]
	// renewed is when this run last installed a renewed certificate (Unix nanoseconds); 0 for never.
	renewed atomic.Int64
	// counter is the last signed-heartbeat counter sent.
	counter atomic.Int64
	// polling is whether the CM answered the Host's last long-poll: the CM then counts the
	// Host alive by its long-polls, and heartbeats may be rarer (heartbeatEvery).
	polling atomic.Bool
	// tickets verifies the tickets of connection requests with the CM's published keys.
	tickets *ticket.KeySource
	// stop ends the agent with a cause.
	stop context.CancelCauseFunc
}

// cm returns the client with the Host's current certificate.
func (rt *hostRuntime) cm() *http.Client { return rt.client.Load() }

// start loads the Host's identity, enrolling first when there is none. The state directory is
// made private to the agent's user first (privatedir: mode 0700 on Unix, an owner-only access
// list on Windows, which the files written inside inherit), as it holds the Host's key and the
// SSH user CA it trusts.
//
// A state directory made for an enrollment that then fails is removed again (when still
// empty), so that a failed first start leaves nothing behind.
func (h *Agent) start(ctx context.Context) (*hostRuntime, error) {
	_, statErr := os.Stat(h.StateDir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := privatedir.Make(h.StateDir); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(h.StateDir, hostStateFile)); errors.Is(err, os.ErrNotExist) {
		if err := h.enroll(ctx); err != nil {
			if made {
				_ = os.Remove(h.StateDir) // only if empty: never a file the enrollment wrote
			}
			return nil, err
		}
	}
	return h.load()
}

// enroll makes the Host's key and exchanges the enrollment token for its identity: the CM's
// certificate for the key, its host id and the SSH user CA, all stored in StateDir.
func (h *Agent) enroll(ctx context.Context) error {
	if h.EnrollmentToken == "" {
		return errors.New("host is not enrolled: an enrollment token is required")
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate host key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	req := api.EnrollRequest{Token: h.EnrollmentToken, Name: h.Name, OS: runtime.GOOS, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var resp api.EnrollResponse
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: certs.PinRole(&tls.Config{RootCAs: h.RootCAs, MinVersion: tls.VersionTLS12}, certs.RoleCM)}}
	if err := api.Call(ctx, hc, http.MethodPost, h.CMURL+api.PathEnroll, "", req, &resp); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	st := hostState{HostID: resp.HostID, Name: h.Name, SSHUserCA: resp.SSHUserCA, Tags: resp.Tags, Tenant: resp.Tenant}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host state: %w", err)
	}
	if err := certs.WriteEd25519PrivateKey(filepath.Join(h.StateDir, hostKeyFile), key); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(h.StateDir, hostCertFile), []byte(resp.Certificate), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(h.StateDir, hostStateFile), data, 0o600)
}

// load reads the Host's identity from StateDir.
func (h *Agent) load() (*hostRuntime, error) {
	data, err := os.ReadFile(filepath.Join(h.StateDir, hostStateFile))
	if err != nil {
		return nil, fmt.Errorf("read host state: %w", err)
	}
	var st hostState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decode host state: %w", err)
	}
	key, err := certs.LoadEd25519PrivateKey(filepath.Join(h.StateDir, hostKeyFile))
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	userCA, _, _, _, err := ssh.ParseAuthorizedKey([]byte(st.SSHUserCA))
	if err != nil {
		return nil, fmt.Errorf("ssh user CA in host state: %w", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(h.StateDir, hostCertFile))
	if err != nil {
		return nil, fmt.Errorf("read host certificate: %w", err)
	}
	rt := &hostRuntime{
		state: st, key: key, signer: signer, userCA: userCA,
		dialer: endpoint.RelayDialer{
			Preferred: h.PreferredProtocol, HTTP: h.RelayHTTP,
			TLS: certs.PinRole(&tls.Config{RootCAs: h.RootCAs, MinVersion: tls.VersionTLS12}, certs.RoleRelay),
		},
	}
	// The counter of signed heartbeats starts at the wall clock in nanoseconds and counts up,
	// so that it keeps rising across restarts without being stored.
	rt.counter.Store(time.Now().UnixNano())
	rt.tickets = h.ticketKeys(rt)
	if err := h.useCertificate(rt, certPEM); err != nil {
		return nil, err
	}
	return rt, nil
}

// useCertificate makes certPEM (for the Host's key) the certificate of rt's CM client.
func (h *Agent) useCertificate(rt *hostRuntime, certPEM []byte) error {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("host certificate: no PEM certificate in " + hostCertFile)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("host certificate: %w", err)
	}
	tlsCert := tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: rt.key, Leaf: leaf}
	mtls := certs.PinRole(&tls.Config{RootCAs: h.RootCAs, Certificates: []tls.Certificate{tlsCert}, MinVersion: tls.VersionTLS12}, certs.RoleCM)
	if old := rt.client.Swap(&http.Client{Transport: &http.Transport{TLSClientConfig: mtls}}); old != nil {
		old.CloseIdleConnections()
	}
	rt.leaf.Store(leaf)
	return nil
}
