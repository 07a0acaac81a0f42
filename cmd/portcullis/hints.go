package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// checkCMURL refuses a CM URL that is not an https:// URL, saying what to give instead; flag
// names the setting it came from.
func checkCMURL(flag, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.Scheme == "https" && u.Host != "":
		return nil
	case err == nil && u.Scheme == "http":
		return fmt.Errorf("--%s %s: the CM answers only HTTPS; use --%s https://%s", flag, raw, flag, strings.TrimPrefix(raw, "http://"))
	case !strings.Contains(raw, "://"):
		return fmt.Errorf("--%s %q has no scheme: give the CM's URL, e.g. --%s https://%s", flag, raw, flag, raw)
	default:
		return fmt.Errorf("--%s %q is not the CM's URL: give one like https://cm.example.com", flag, raw)
	}
}

// withHint adds to err what the user can do about it, when that is known: a server certificate
// from a CA this machine does not trust needs --ca-file; a sign-in the CM no longer accepts (an
// ID token signed with a key the identity provider no longer publishes, say) needs a new one.
func withHint(err error) error {
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return fmt.Errorf("%w\n(the server's certificate is signed by a CA this machine does not trust: "+
			"name that CA's certificate, e.g. the ca.crt 'portcullis certs init' wrote, with --ca-file)", err)
	}
	if se, ok := api.AsStatus(err); ok && se.Body.Code == access.ErrUnauthenticated {
		return fmt.Errorf("%w\n(the CM no longer accepts your sign-in: sign in again with 'portcullis login')", err)
	}
	return err
}

// hintFor adds to err, returned by cmd, the hints that apply to cmd: withHint's for a command
// that acts with the user's sign-in, only the CA's for one that does not (a daemon's refused
// enrollment is no sign-in to renew).
func hintFor(cmd *cobra.Command, err error) error {
	if usesSignIn(cmd) {
		return withHint(err)
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return withHint(err)
	}
	return err
}

// noSignInAnnotation marks a command (and its subcommands) that acts with its own credentials
// (an enrollment token, a certificate) and never with the user's sign-in.
const noSignInAnnotation = "portcullis/no-sign-in"

// usesSignIn reports whether cmd may act with the user's sign-in: none of it and its parents
// carries noSignInAnnotation.
func usesSignIn(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if _, ok := c.Annotations[noSignInAnnotation]; ok {
			return false
		}
	}
	return true
}

// addCMFlag adds --cm, the CM's URL, and --cm-url, its old spelling on cs and host: hidden and
// deprecated, but still read (flag, PORTCULLIS_CM_URL or cm-url: in a config file) so that old
// scripts and config files keep working.
func addCMFlag(f *pflag.FlagSet) {
	f.String("cm", "https://127.0.0.1:8443", "The Connection Manager's URL (https://).")
	f.String(oldCMFlag, "", "Old name of --cm.")
	_ = f.MarkDeprecated(oldCMFlag, "use --cm")
}

// oldCMFlag is the deprecated name of --cm.
const oldCMFlag = "cm-url"

// applyRenamedFlags makes a deprecated setting count as its new name unless the new one is set
// too (the new name wins).
func applyRenamedFlags(v *viper.Viper, f *pflag.FlagSet) {
	if f.Lookup(oldCMFlag) == nil || !v.IsSet(oldCMFlag) || v.IsSet("cm") {
		return
	}
	v.Set("cm", v.Get(oldCMFlag))
}
