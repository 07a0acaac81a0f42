// Package localstack starts a whole Portcullis system on this machine from the real binary — a
// Connection Manager with the development identity provider and a SQLite store (or a given
// one), Connection Servers and Host agents, each its own process on loopback — and drives it as
// users would: sign-in through the device flow, Guest commands, the admin API. `portcullis
// demo` runs it; the end-to-end tests and the bench suite build on it. With Options.Replicas it
// runs the CM as several replicas on one PostgreSQL behind a real HAProxy (replicas.go).
//
// It never fakes a part: every role is the real command. It never picks a port for a child to
// bind later, where another process could take it in between: it listens on 127.0.0.1:0 itself
// and hands the listening socket down to the child as an inherited file, which the daemons take
// as the listen address "fd:N". The CM's sockets stay with the stack for its whole life, as with
// a socket-activating service manager, so a restarted CM serves on the same address. Windows
// cannot hand a socket down (handoff_windows.go): there the stack frees the port just before the
// child binds it.
//
// Children end with Stop, the last started first. On Linux the kernel also kills them when
// the process that started them dies (Pdeathsig, proc_linux.go); elsewhere a parent killed
// outright leaves them running.
//
// It is for local use only: the identity provider it enables signs anyone in with fixed
// passwords.
package localstack
