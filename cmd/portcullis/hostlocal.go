package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/hostauth"
	"github.com/portcullis/portcullis/internal/ttyprompt"
)

// procSelfExe runs this very binary again on Linux, even from a directory the session's account
// cannot search (the kernel resolves the link without walking the path), and even after an
// upgrade replaced the file (it names the running binary's inode, so the agent and its SFTP
// servers stay one version).
const procSelfExe = "/proc/self/exe"

// sftpServerCmd is the hidden command the Host runs, as the session's account, to serve SFTP.
const sftpServerCmd = "sftp-server"

// sftpReadMax is the most file data sftp-server answers one read with; the Host agent announces
// it to Guests, which then ask for that much per request.
const sftpReadMax = endpoint.SFTPLargePacket

// sftpCommand is the program line the Host agent on goos runs, as a session's account, to serve
// SFTP: this very binary with the hidden sftp-server command. Linux names it procSelfExe; the
// other systems have no /proc/self/exe and name the path executable (os.Executable) returns,
// resolved once, when the agent starts.
func sftpCommand(goos string, executable func() (string, error)) ([]string, error) {
	if goos == "linux" {
		return []string{procSelfExe, sftpServerCmd}, nil
	}
	exe, err := executable()
	if err != nil {
		return nil, fmt.Errorf("find this program's own file, which the Host runs to serve cp, scp and sftp: %w", err)
	}
	if !filepath.IsAbs(exe) {
		return nil, fmt.Errorf("find this program's own file, which the Host runs to serve cp, scp and sftp: %q is not an absolute path", exe)
	}
	return []string{exe, sftpServerCmd}, nil
}

func newSFTPServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    sftpServerCmd,
		Short:  "Serve SFTP on stdin and stdout (run by the Host agent for a session, as its account)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// One session's server: it runs Go as a Guest's session does (one thread, a high
			// garbage collection target), and waits for its pipes in Go's poller rather than in
			// blocked reads, which the runtime's monitor would otherwise keep taking over.
			if err := defaultSessionRuntime().applyRuntime(); err != nil {
				return err
			}
			in, out := pollableStdio()
			// Each reply is written whole, and the status replies of an upload travel together;
			// a read is answered with up to sftpReadMax bytes, as the agent announces.
			server, err := endpoint.NewSFTPServer(in, out, endpoint.ToPipe, sftpReadMax)
			if err != nil {
				return err
			}
			if err := server.Serve(); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		},
	}
}

// hostPasswdConfig is the configuration of 'host passwd'.
type hostPasswdConfig struct {
	hostAuthConfig `mapstructure:",squash"`
	Delete         bool `mapstructure:"delete"`
}

func newHostPasswdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd LOGON",
		Short: "Set (or with --delete remove) a host-local logon's password for the password scheme (argon2id)",
		Long:  "Passwd reads the new password twice from the terminal, or once from stdin when it is not a terminal.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg hostPasswdConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			if cfg.PasswordFile == "" {
				return errors.New("name the password file with --password-file")
			}
			if cfg.Delete {
				return hostauth.SetPassword(cfg.PasswordFile, args[0], "")
			}
			pw, err := readNewPassword(cmd)
			if err != nil {
				return err
			}
			return hostauth.SetPassword(cfg.PasswordFile, args[0], pw)
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().String("password-file", "", "the password file (mode 0600)")
	cmd.Flags().Bool("delete", false, "remove the logon")
	return cmd
}

// readNewPassword reads a password twice from a terminal, or once from a pipe.
func readNewPassword(cmd *cobra.Command) (string, error) {
	in := os.Stdin
	if !term.IsTerminal(int(in.Fd())) {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	tty, err := ttyprompt.Open()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	var answers [2]string
	for i, prompt := range []string{"New password: ", "Again: "} {
		if answers[i], err = tty.AskHidden(cmd.Context(), prompt); err != nil {
			return "", err
		}
	}
	if answers[0] != answers[1] || answers[0] == "" {
		return "", errors.New("the passwords differ or are empty")
	}
	return answers[0], nil
}

func newHostConfirmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "confirm",
		Short: "Answer the Host's confirm scheme from this terminal: show each session asking to start, accept with y",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg hostAuthConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			if cfg.ConfirmSocket == "" {
				return errors.New("name the socket with --confirm-socket")
			}
			in := bufio.NewReader(cmd.InOrStdin())
			for cmd.Context().Err() == nil {
				if err := confirmOne(cfg.ConfirmSocket, in, cmd.OutOrStdout()); errors.Is(err, io.EOF) {
					return nil // the local user closed the terminal's input
				} else if err != nil {
					return err
				}
			}
			return nil
		},
	}
	addConfigFlag(cmd)
	cmd.Flags().String("confirm-socket", "", "the Host agent's confirm socket")
	return cmd
}

// confirmOne waits for one question on the socket and answers it from in.
func confirmOne(socket string, in *bufio.Reader, out io.Writer) error {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return fmt.Errorf("confirm socket: %w", err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("confirm socket: %w", err)
	}
	var q hostauth.ConfirmQuestion
	if err := json.Unmarshal([]byte(line), &q); err != nil {
		return fmt.Errorf("confirm socket: %w", err)
	}
	fmt.Fprintf(out, "%s (groups %s) asks to open a session on %s (channels %s; session %s, decision %s).\nAllow before %s? [y/N] ",
		q.User, strings.Join(q.Groups, ", "), q.Host, strings.Join(q.Channels, ", "), q.SessionID, q.DecisionID, q.Deadline.Format("15:04:05"))
	answer, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the answer: %w", err)
	}
	reply := "no"
	if a := strings.ToLower(strings.TrimSpace(answer)); a == "y" || a == "yes" {
		reply = "yes"
	}
	if _, werr := io.WriteString(conn, reply+"\n"); werr != nil {
		return fmt.Errorf("confirm socket: %w", werr)
	}
	return err // io.EOF once the input is exhausted
}
