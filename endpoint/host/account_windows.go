package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"

	"github.com/portcullis/portcullis/endpoint"
)

// errNoSwitch explains why a Windows Host runs sessions as its own user only.
var errNoSwitch = fmt.Errorf("running sessions as another account is not supported on Windows: %w", errors.ErrUnsupported)

// LookupAccount resolves the local account name; "" means the agent's own user, the only
// account a Windows Host runs sessions as: naming another is an error wrapping
// endpoint.ErrBadConfig.
func LookupAccount(name string) (*Account, error) {
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("%w: account %q: %w", endpoint.ErrBadConfig, name, err)
	}
	if name != "" && !strings.EqualFold(name, u.Username) && !strings.EqualFold(name, baseName(u.Username)) {
		return nil, fmt.Errorf("%w: account %q: %w", endpoint.ErrBadConfig, name, errNoSwitch)
	}
	a := &Account{Name: u.Username, Home: u.HomeDir}
	if st, err := os.Stat(a.Home); err != nil || !st.IsDir() {
		a.Home = fallbackHome
	}
	return a, nil
}

// baseName strips the domain from DOMAIN\user.
func baseName(name string) string {
	_, user, ok := strings.Cut(name, `\`)
	if !ok {
		return name
	}
	return user
}

// apply leaves cmd as it is: a Windows Host runs programs as its own user and has no process
// groups (the command line shellCommand set is kept).
func (a *Account) apply(*exec.Cmd, bool) {}
