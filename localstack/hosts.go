package localstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/portcullis/portcullis/api"
)

// HostSpec describes a Host to enrol and start.
type HostSpec struct {
	Name   string
	Tags   map[string]string
	Tenant string
	// Env is added to the Host process's environment.
	Env []string
	// Args are added to the Host's command line (e.g. its authorization schemes).
	Args []string
	// SignedHeartbeats sends the Host's heartbeats signed over plain HTTP to the CM's
	// HeartbeatURL (Options.HeartbeatListener must be set).
	SignedHeartbeats bool
}

// hostAccount is the account Hosts run sessions as when the stack runs as root (an agent
// running as root must name one): the unprivileged "nobody".
const hostAccount = "nobody"

// StartHost has admin create an enrollment token for h, starts the Host agent with it, and
// waits until the CM sees the Host online.
func (s *Stack) StartHost(ctx context.Context, admin User, h HostSpec) (*Proc, error) {
	var tok api.EnrollmentTokenResponse
	req := api.EnrollmentTokenRequest{Tags: h.Tags, Tenant: h.Tenant}
	if err := api.Call(ctx, admin.Client, http.MethodPost, s.CMURL+api.PathEnrollmentTokens, admin.IDToken, req, &tok); err != nil {
		return nil, fmt.Errorf("localstack: enrollment token for %s: %w", h.Name, err)
	}
	args := []string{"host", "--cm", s.CMURL, "--ca-file", s.CAFile,
		"--state-dir", filepath.Join(s.opts.Dir, "hosts", h.Name), "--enroll-token", tok.Token, "--name", h.Name}
	if os.Getuid() == 0 {
		args = append(args, "--run-as", hostAccount)
	}
	if h.SignedHeartbeats {
		args = append(args, "--heartbeat-url", s.HeartbeatURL)
	}
	p, err := s.spawn(ctx, &launch{name: h.Name, args: append(args, h.Args...), env: h.Env})
	if err != nil {
		return nil, err
	}
	if err := s.WaitHost(ctx, admin, h.Name); err != nil {
		return nil, err
	}
	return p, nil
}

// WaitHost waits until the CM lists the Host as online.
func (s *Stack) WaitHost(ctx context.Context, admin User, name string) error {
	err := s.waitFor(ctx, func() bool {
		var hosts []api.HostInfo
		if api.Call(ctx, admin.Client, http.MethodGet, s.CMURL+api.PathHosts, admin.IDToken, nil, &hosts) != nil {
			return false
		}
		for _, hi := range hosts {
			if hi.Name == name && hi.Online {
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("localstack: host %s did not come online: %w", name, err)
	}
	return nil
}
