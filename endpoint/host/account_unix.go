//go:build unix

package host

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/portcullis/portcullis/endpoint"
)

// LookupAccount resolves the local account name; "" means the agent's own user. Switching to
// another account needs the agent to run as root; otherwise it is an error wrapping
// endpoint.ErrBadConfig.
func LookupAccount(name string) (*Account, error) {
	var u *user.User
	var err error
	if name == "" {
		u, err = user.Current()
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: account %q: %w", endpoint.ErrBadConfig, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: account %q has non-numeric ids", endpoint.ErrBadConfig, u.Username)
	}
	a := &Account{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir, Switch: int(uid) != os.Getuid()}
	if st, err := os.Stat(a.Home); err != nil || !st.IsDir() {
		a.Home = fallbackHome
	}
	if a.Switch && os.Getuid() != 0 {
		return nil, fmt.Errorf("%w: running sessions as %s needs the Host agent to run as root", endpoint.ErrBadConfig, a.Name)
	}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	return a, nil
}

// apply makes cmd run as the account (a nil account is the agent's own user), in its own
// process group when group is set (a program on a terminal leads its own session instead).
func (a *Account) apply(cmd *exec.Cmd, group bool) {
	attr := &syscall.SysProcAttr{Setpgid: group}
	if a != nil && a.Switch {
		attr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
	}
	cmd.SysProcAttr = attr
}
