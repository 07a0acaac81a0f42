package host

import (
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/hostauth"
)

// runSchemes runs the Host owner's chain once the Guest proved it holds the certified key
// (ssh.ServerConfig.VerifiedPublicKeyCallback). A chain that asks the Guest questions runs
// inside a following keyboard-interactive step, on the encrypted channel. A refusal is sent as
// the refusal line, naming the scheme.
func (s *sshServer) runSchemes(meta ssh.ConnMetadata, _ ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	cert, ok := perms.ExtraData[certDataKey{}].(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("host: verified key without a certificate: %w", access.ErrNotCertificate)
	}
	groups, err := certs.CertGroups(cert)
	if err != nil {
		return nil, s.refuseAuth(meta, &hostauth.Refusal{Scheme: hostauth.SchemeCentral, Reason: err})
	}
	req := &hostauth.Request{
		User: meta.User(), Groups: groups, SessionID: s.cfg.SessionID, DecisionID: cert.KeyId,
		Obligations: s.cfg.Obligations, Host: s.cfg.HostName, Time: s.now(),
	}
	if !s.cfg.Auth.Asks() {
		return s.runChain(meta, req, perms)
	}
	return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
		KeyboardInteractiveCallback: func(meta ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			req.Ask = func(_ context.Context, instruction string, questions []string, echo []bool) ([]string, error) {
				return client(meta.User(), instruction, questions, echo)
			}
			return s.runChain(meta, req, perms)
		},
	}}
}

// runChain runs the chain within AuthTimeout.
func (s *sshServer) runChain(meta ssh.ConnMetadata, req *hostauth.Request, perms *ssh.Permissions) (*ssh.Permissions, error) {
	ctx, cancel := context.WithTimeout(s.ctx, AuthTimeout)
	defer cancel()
	if err := s.cfg.Auth.Authorize(ctx, req); err != nil {
		return nil, s.refuseAuth(meta, err)
	}
	s.log.Info("host schemes allowed the session", "user", meta.User(), "schemes", len(s.cfg.Auth))
	return perms, nil
}

// refuseAuth logs a refusal by the Host's schemes and makes it the banner the Guest reads.
func (s *sshServer) refuseAuth(meta ssh.ConnMetadata, err error) error {
	s.log.Warn("host scheme refused the session", "user", meta.User(), "reason", access.CodeOf(err), "err", err)
	return &ssh.BannerError{Err: err, Message: endpoint.RefusalLine(err)}
}
