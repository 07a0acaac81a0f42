package endpoint

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Account is the local account the Host runs a session's programs as.
type Account struct {
	// Name is the account's user name.
	Name string
	// UID, GID and Groups are its ids.
	UID, GID uint32
	Groups   []uint32
	// Home is its home directory ("/" when it has none that exists).
	Home string
	// Switch says that programs need setuid/setgid: the account is not the agent's own user.
	Switch bool
}

// LookupAccount resolves the local account name; "" means the agent's own user. Switching to
// another account needs the agent to run as root; otherwise it is an error.
func LookupAccount(name string) (*Account, error) {
	var u *user.User
	var err error
	if name == "" {
		u, err = user.Current()
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: account %q: %w", ErrBadConfig, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: account %q has non-numeric ids", ErrBadConfig, u.Username)
	}
	a := &Account{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir, Switch: int(uid) != os.Getuid()}
	if st, err := os.Stat(a.Home); err != nil || !st.IsDir() {
		a.Home = "/"
	}
	if a.Switch && os.Getuid() != 0 {
		return nil, fmt.Errorf("%w: running sessions as %s needs the Host agent to run as root", ErrBadConfig, a.Name)
	}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			a.Groups = append(a.Groups, uint32(n))
		}
	}
	return a, nil
}

// sysProcAttr is the process attributes of a program run as the account, in its own process
// group when group is set.
func (a *Account) sysProcAttr(group bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: group}
	if a != nil && a.Switch {
		attr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
	}
	return attr
}
