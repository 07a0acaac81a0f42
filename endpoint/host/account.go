package host

// Account is the local account the Host runs a session's programs as. LookupAccount resolves
// it; switching to another account than the agent's own needs Unix and a root agent.
type Account struct {
	// Name is the account's user name.
	Name string
	// UID and GID are its user and group ids (zero on Windows, which names accounts by SID).
	UID, GID uint32
	// Groups are the ids of its supplementary groups.
	Groups []uint32
	// Home is its home directory (fallbackHome when it has none that exists).
	Home string
	// Switch says that programs need setuid/setgid: the account is not the agent's own user.
	Switch bool
}
