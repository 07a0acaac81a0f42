package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/host"
	"github.com/portcullis/portcullis/endpoint/hostauth"
)

// hostConfig is the Host agent's configuration.
type hostConfig struct {
	CMURL          string `mapstructure:"cm"`
	CAFile         string `mapstructure:"ca-file"`
	StateDir       string `mapstructure:"state-dir"`
	EnrollToken    string `mapstructure:"enroll-token"`
	Name           string `mapstructure:"name"`
	Shell          string `mapstructure:"shell"`
	HeartbeatURL   string `mapstructure:"heartbeat-url"`
	Encryption     string `mapstructure:"encryption"`
	RunAs          string `mapstructure:"run-as"`
	Preferred      string `mapstructure:"preferred-protocol"`
	GCPercent      int    `mapstructure:"gc-percent"`
	logConfig      `mapstructure:",squash"`
	hostAuthConfig `mapstructure:",squash"`
}

// hostAuthConfig is the Host owner's chain of authorization schemes (hostauth.Config).
type hostAuthConfig struct {
	AuthChain      []string      `mapstructure:"auth-chain"`
	AllowUsers     []string      `mapstructure:"allow-users"`
	AllowGroups    []string      `mapstructure:"allow-groups"`
	ConfirmSocket  string        `mapstructure:"confirm-socket"`
	ConfirmGroup   string        `mapstructure:"confirm-group"`
	ConfirmTimeout time.Duration `mapstructure:"confirm-timeout"`
	PasswordFile   string        `mapstructure:"password-file"`
	RegoFile       string        `mapstructure:"rego-file"`
}

// config converts to the scheme package's configuration, without the Host's state dir.
func (c hostAuthConfig) config() hostauth.Config {
	return hostauth.Config{
		Chain: c.AuthChain, AllowUsers: c.AllowUsers, AllowGroups: c.AllowGroups,
		ConfirmSocket: c.ConfirmSocket, ConfirmGroup: c.ConfirmGroup, ConfirmTimeout: c.ConfirmTimeout, PasswordFile: c.PasswordFile, RegoFile: c.RegoFile,
	}
}

// config is the scheme package's configuration, keeping the password scheme's lock table in the
// Host's state dir.
func (c hostConfig) config() hostauth.Config {
	ac := c.hostAuthConfig.config()
	ac.StateDir = c.StateDir
	return ac
}

// hostGCPercent is the Host agent's default garbage collection target: as a Guest's session
// (guestGCPercent), an agent relays sessions whose every SSH packet is a fresh allocation
// while its live heap stays small; make bench's cp section: about 10 % less agent CPU per MB
// than Go's default of 100.
const hostGCPercent = 400

func newHostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use: "host",
		// Its credentials are its certificates and enrollment token, never a sign-in.
		Annotations: map[string]string{noSignInAnnotation: ""},
		Short:       "Run the Host agent on the device to be controlled: enrols once, heartbeats, and serves sessions through a relay (it never listens)",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg hostConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runHost(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	addLogFlag(cmd)
	addCMFlag(f)
	f.String("ca-file", "", "CA certificate that signed the CM's and CS's TLS certificates (default: system roots)")
	f.String("state-dir", host.DefaultStateDir(), "directory for the Host's key, certificate and identity, and the password scheme's lock table")
	f.String("enroll-token", "", "one-time enrollment token (needed only for the first start)")
	f.String("name", "", "host name to enrol under")
	f.String("shell", host.DefaultShell, "shell that runs commands and interactive sessions (an absolute path)")
	f.String("heartbeat-url", "", "send heartbeats signed with the Host key over plain HTTP to this CM heartbeat listener (e.g. http://cm:8080) instead of over mTLS")
	f.String("encryption", access.DefaultLevel, "weakest encryption level accepted: very_high, high, medium or fast (a session uses the stronger of this and the policy's minimum; at fast its relay leg drops TLS when the policy and the Guest allow it)")
	f.String("run-as", "", "local account sessions run as (default: the agent's own user; an agent running as root must name one, root included)")
	f.String("preferred-protocol", "auto", "how to reach relays: auto (TCP/1970, then HTTP/80), tcp or http")
	addGCPercentFlag(f, hostGCPercent, "an agent's live heap is small (its sessions' buffers) and every SSH packet a session receives is a fresh allocation, so a high target spends less CPU on collections")
	addHostAuthFlags(cmd)
	cmd.AddCommand(newHostPasswdCmd(), newHostConfirmCmd())
	return cmd
}

// addHostAuthFlags adds the flags of the Host's authorization schemes.
func addHostAuthFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSlice("auth-chain", nil, "Host-side schemes after the CM's certificate, in order, all must allow: allowlist, confirm, password, rego")
	f.StringSlice("allow-users", nil, "allowlist: users (certificate principals) allowed")
	f.StringSlice("allow-groups", nil, "allowlist: groups (from the certificate) allowed")
	f.String("confirm-socket", "", "confirm: unix socket a notifier ('portcullis host confirm') answers on")
	f.String("confirm-group", "", "confirm: a group whose members may answer too (socket mode 0660), e.g. the desktop user's")
	f.Duration("confirm-timeout", hostauth.DefaultConfirmTimeout, "confirm: how long the local user has to accept")
	f.String("password-file", "", "password: argon2id file managed by 'portcullis host passwd'")
	f.String("rego-file", "", "rego: host-local Rego policy (package portcullis.host)")
}

func runHost(ctx context.Context, cfg hostConfig) error {
	if err := errors.Join(checkCMURL("cm", cfg.CMURL), checkGCPercent(cfg.GCPercent), checkHostSettings(cfg)); err != nil {
		return err
	}
	log, err := cfg.newLogger()
	if err != nil {
		return err
	}
	applyGCPercent(cfg.GCPercent)
	sftpCmd, err := sftpCommand(runtime.GOOS, os.Executable)
	if err != nil {
		return err
	}
	log.Info("host agent starting", "cm_url", cfg.CMURL, "host_name", cfg.Name, "state_dir", cfg.StateDir, "sftp_program", sftpCmd[0])
	pool, err := optionalPool(cfg.CAFile)
	if err != nil {
		return err
	}
	if err := checkRunAs(os.Getuid(), cfg.RunAs); err != nil {
		return err
	}
	account, err := host.LookupAccount(cfg.RunAs)
	if err != nil {
		return err
	}
	if _, err := endpoint.Algorithms(cfg.Encryption); err != nil {
		return err
	}
	authCfg := cfg.config()
	authCfg.Logger = log
	schemes, err := authCfg.Build(ctx)
	if err != nil {
		return err
	}
	if schemes.Confirm != nil {
		ln, err := hostauth.ListenConfirm(cfg.ConfirmSocket, cfg.ConfirmGroup)
		if err != nil {
			return err
		}
		go func() {
			if err := schemes.Confirm.Serve(ctx, ln); err != nil {
				log.Error("confirm socket", "err", err)
			}
		}()
	}
	h := &host.Agent{
		CMURL: cfg.CMURL, RootCAs: pool, StateDir: cfg.StateDir, EnrollmentToken: cfg.EnrollToken,
		Name: cfg.Name, Shell: cfg.Shell, HeartbeatURL: cfg.HeartbeatURL, Logger: log, Encryption: cfg.Encryption, PreferredProtocol: cfg.Preferred,
		Account: account, SFTPCommand: sftpCmd, SFTPReadMax: sftpReadMax, Schemes: schemes,
	}
	return h.Run(ctx)
}

// checkHostSettings refuses, before the agent enrols, a --shell that is not an absolute path
// and a --heartbeat-url that is not an http(s) URL: each would otherwise fail only at the first
// session or heartbeat.
func checkHostSettings(cfg hostConfig) error {
	var errs []error
	if cfg.Shell != "" && !filepath.IsAbs(cfg.Shell) {
		errs = append(errs, fmt.Errorf("--shell %q is not an absolute path (e.g. %s)", cfg.Shell, host.DefaultShell))
	}
	if cfg.HeartbeatURL != "" {
		u, err := url.Parse(cfg.HeartbeatURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--heartbeat-url %q is not the URL of the CM's heartbeat listener (e.g. http://cm.example.com:8080)", cfg.HeartbeatURL))
		}
	}
	return errors.Join(errs...)
}

// checkRunAs refuses an agent running as root (uid 0) without a named session account: sessions
// never run as root unless configured so.
func checkRunAs(uid int, runAs string) error {
	if uid == 0 && runAs == "" {
		return errors.New("the Host agent runs as root: name the account sessions run as with --run-as (--run-as root to really run them as root)")
	}
	return nil
}

// optionalTrust returns the trust of the CA file, with the system roots read only when needed
// (certs.Trust), or nil (the system roots alone) without one.
func optionalTrust(file string) (*certs.Trust, error) {
	if file == "" {
		return nil, nil
	}
	return certs.LoadTrust(file)
}

// optionalPool returns the system roots plus the CA file's certificates, or nil (the system
// roots) when file is empty: the CM's own CA, and a public identity provider's.
func optionalPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("load CA file %s: no PEM certificate", file)
	}
	return pool, nil
}
