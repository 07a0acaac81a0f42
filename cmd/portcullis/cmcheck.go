package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/identity"
)

// checkCM reports every problem of the CM's settings at once, each named by its flag, before
// the CM creates anything: its store, the development identity provider's key, a listener.
func checkCM(cfg cmConfig) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case cfg.OIDCIssuer != "":
		if err := identity.ValidateIssuer(cfg.OIDCIssuer); err != nil {
			add(fmt.Errorf("--oidc-issuer: %w", err))
		}
	case !cfg.DevIdP:
		add(errors.New("--oidc-issuer is required (or --dev-idp for local development)"))
	default:
		if err := identity.ValidateIssuer(devIdPIssuer(cfg)); err != nil {
			add(fmt.Errorf("--public-url %q does not make an issuer for the development identity provider: %w", cfg.PublicURL, err))
		}
	}
	if cfg.OIDCClientID == "" {
		add(errors.New("--oidc-client-id is required"))
	}
	if cfg.MaxSkew < 0 || cfg.MaxSkew > identity.MaxSkewLimit {
		add(fmt.Errorf("--oidc-max-skew %s is outside 0..%s", cfg.MaxSkew, identity.MaxSkewLimit))
	}
	add(checkPolicySource(cfg))
	add(checkListenAddr("listen", cfg.Listen))
	if cfg.HeartbeatListen != "" {
		add(checkListenAddr("heartbeat-listen", cfg.HeartbeatListen))
	}
	settings := gateway.Config{
		Revocation: cfg.Revocation, MaxCredentialTTL: cfg.MaxCredentialTTL, HostCertTTL: cfg.HostCertTTL,
		ReevaluateInterval: cfg.ReevaluateInterval, DecisionLogShipping: cfg.decisionLogShipping(),
	}
	add(namedByFlags(settings.CheckSettings()))
	return errors.Join(errs...)
}

// devIdPIssuer is the development identity provider's issuer: --oidc-issuer, or the CM's
// public URL with devIdPPath.
func devIdPIssuer(cfg cmConfig) string {
	if cfg.OIDCIssuer != "" {
		return cfg.OIDCIssuer
	}
	return strings.TrimSuffix(cfg.PublicURL, "/") + devIdPPath
}

// checkPolicySource refuses a policy directory and a bundle together, and a policy directory,
// bundle file or bundle key that cannot be read.
func checkPolicySource(cfg cmConfig) error {
	if cfg.PolicyDir != "" && cfg.PolicyBundle != "" {
		return errors.New("--policy-dir and --policy-bundle: set one, not both")
	}
	if cfg.PolicyDir != "" {
		fi, err := os.Stat(cfg.PolicyDir)
		if err != nil {
			return fmt.Errorf("--policy-dir: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("--policy-dir %s is not a directory", cfg.PolicyDir)
		}
	}
	if cfg.PolicyBundle == "" {
		return nil
	}
	var errs []error
	if !strings.Contains(cfg.PolicyBundle, "://") {
		if _, err := os.Stat(cfg.PolicyBundle); err != nil {
			errs = append(errs, fmt.Errorf("--policy-bundle: %w", err))
		}
	}
	if cfg.PolicyKey == "" {
		errs = append(errs, errors.New("--policy-bundle needs --policy-key"))
	} else if _, err := os.Stat(cfg.PolicyKey); err != nil {
		errs = append(errs, fmt.Errorf("--policy-key: %w", err))
	}
	if cfg.PolicyKeyID == "" {
		errs = append(errs, errors.New("--policy-bundle needs --policy-key-id"))
	}
	return errors.Join(errs...)
}

// checkListenAddr refuses a listen address that is neither host:port nor an inherited socket
// (fd:N); flag names the setting.
func checkListenAddr(flag, addr string) error {
	if strings.HasPrefix(addr, inheritedPrefix) {
		return nil // listen checks N when it takes the socket over
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("--%s %q is not a listen address (host:port, e.g. :8443): %w", flag, addr, err)
	}
	return nil
}

// cmSettingFlag is the CM's flag of a gateway setting (a gateway.SettingError's Field); "" for
// a setting the CM has no flag for.
func cmSettingFlag(field string) string {
	switch field {
	case "Revocation":
		return "revocation"
	case "MaxCredentialTTL":
		return "max-credential-ttl"
	case "HostCertTTL":
		return "host-cert-ttl"
	case "ReevaluateInterval":
		return "reevaluate-interval"
	case "DecisionLogShipping.URL":
		return "decision-log-url"
	case "DecisionLogShipping.Batch":
		return "decision-log-batch"
	case "DecisionLogShipping.Poll":
		return "decision-log-poll"
	}
	return ""
}

// namedByFlags rewrites the gateway's setting problems in err to name the CM's flags instead
// of Go fields; other errors pass unchanged.
func namedByFlags(err error) error {
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	out := make([]error, 0, len(parts))
	for _, e := range parts {
		if se, ok := errors.AsType[*gateway.SettingError](e); ok {
			if flag := cmSettingFlag(se.Field); flag != "" {
				e = fmt.Errorf("--%s %s %s", flag, se.Value, se.Problem)
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
