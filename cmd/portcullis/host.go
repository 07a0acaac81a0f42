package main

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
)

// hostConfig is the Host agent's configuration.
type hostConfig struct {
	CMURL       string `mapstructure:"cm-url"`
	CAFile      string `mapstructure:"ca-file"`
	StateDir    string `mapstructure:"state-dir"`
	EnrollToken string `mapstructure:"enroll-token"`
	Name        string `mapstructure:"name"`
	Shell       string `mapstructure:"shell"`
	LogLevel    string `mapstructure:"log-level"`
}

func newHostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "host",
		Short: "Run the Host agent on the device to be controlled: enrols once, heartbeats, and serves sessions through a relay (it never listens)",
		Args:  cobra.NoArgs,
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
	f.String("cm-url", "https://127.0.0.1:8443", "the Connection Manager's URL")
	f.String("ca-file", "", "CA certificate that signed the CM's and CS's TLS certificates (default: system roots)")
	f.String("state-dir", "/var/lib/portcullis/host", "directory for the Host's key, certificate and identity")
	f.String("enroll-token", "", "one-time enrollment token (needed only for the first start)")
	f.String("name", "", "host name to enrol under")
	f.String("shell", "/bin/sh", "shell that runs commands and interactive sessions")
	return cmd
}

func runHost(ctx context.Context, cfg hostConfig) error {
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		return err
	}
	pool, err := optionalPool(cfg.CAFile)
	if err != nil {
		return err
	}
	h := &endpoint.Host{
		CMURL: cfg.CMURL, RootCAs: pool, StateDir: cfg.StateDir, EnrollmentToken: cfg.EnrollToken,
		Name: cfg.Name, Shell: cfg.Shell, Logger: log,
	}
	return h.Run(ctx)
}

// optionalPool loads a CA file, or returns nil (the system roots) when file is empty.
func optionalPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pool, err := certs.LoadCertPool(file)
	if err != nil {
		return nil, fmt.Errorf("load CA file: %w", err)
	}
	return pool, nil
}
