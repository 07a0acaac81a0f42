package host

import (
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
)

// SFTP on the Host: the server runs as a program (SFTPCommand) or inside the agent, and the
// Host tells the Guest how much file data it answers one read with (SFTPReadMax, in its answer
// to the global request endpoint.SFTPPacketRequest), so that the Guest may ask for more than
// 32 KiB per request.

// answerGlobalRequests answers the Guest's global requests until the connection ends: the
// SFTP read size when readMax is set, false to everything else (as ssh.DiscardRequests).
func answerGlobalRequests(reqs <-chan *ssh.Request, readMax int) {
	for req := range reqs {
		if req.Type == endpoint.SFTPPacketRequest && readMax > 0 {
			_ = req.Reply(true, ssh.Marshal(endpoint.SFTPPacketAnswer{ReadMax: uint32(readMax)}))
			continue
		}
		if req.WantReply {
			_ = req.Reply(false, nil)
		}
	}
}

// launchSFTP starts the sftp server on the channel, in the working directory of programs: as a
// program run as the account when SFTPCommand is set, else inside the agent.
func (s *session) launchSFTP() error {
	if c := s.srv.cfg.SFTPCommand; len(c) > 0 {
		return s.launch(exec.Command(c[0], c[1:]...), nil)
	}
	if s.srv.cfg.Account != nil && s.srv.cfg.Account.Switch {
		return fmt.Errorf("host: %w: sftp as %s needs an sftp server program", access.ErrRequestRefused, s.srv.cfg.Account.Name)
	}
	// Each reply is written whole, and the status replies of an upload travel together.
	server, err := endpoint.NewSFTPServer(s.ch, s.ch, endpoint.ToChannel, s.srv.cfg.SFTPReadMax, sftp.WithServerWorkingDirectory(s.srv.dir))
	if err != nil {
		return fmt.Errorf("host: %w: start sftp: %w", access.ErrRequestRefused, err)
	}
	s.log.Info("sftp started")
	s.running, s.done = true, make(chan struct{})
	s.kill = func() { _ = server.Close() }
	s.wait = func() (string, []byte) {
		status := uint32(0)
		if err := server.Serve(); err != nil && !errors.Is(err, io.EOF) {
			s.log.Info("sftp ended", "err", err)
			status = 1
		}
		return "exit-status", ssh.Marshal(exitStatusMsg{Status: status})
	}
	return nil
}
