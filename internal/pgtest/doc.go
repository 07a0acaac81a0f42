// Package pgtest gives tests a real, throwaway PostgreSQL server.
//
// Start(t) returns the DSN of a fresh, empty database. Without a shared server it runs its own:
// initdb into a temporary directory, pg_ctl start on a free 127.0.0.1 port (Unix socket in that
// directory; another port when the one picked was taken meanwhile), and t.Cleanup stops it
// (pg_ctl -m immediate) and removes the directory. A watchdog shell does the same if the test
// binary dies without cleaning up. The binaries (initdb, pg_ctl, postgres) are looked up on
// PATH, then in /usr/lib/postgresql/*/bin (newest version first), /usr/local/pgsql/bin and
// /usr/pgsql-*/bin. As root, the server runs as the "postgres" user through runuser, since
// PostgreSQL refuses to run as root.
//
// To start one server per test binary instead of one per Start, a package's tests use Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Main starts the server, advertises its admin DSN to Start through the environment variable
// named by EnvAdminDSN, runs the tests, and stops it. Setting that variable by hand points
// every Start at an existing server instead (each test still gets its own database, dropped
// at cleanup). StartServer gives a test a server of its own to Halt and Resume, to see the
// database go away and come back.
//
// Missing binaries, a server that does not start, or a database that cannot be created fail
// the test (or, in Main, the whole binary) with a message saying what is missing. pgtest never
// skips a test.
//
// pgtest is for tests only: it must never be imported by non-test code, and it must never touch
// a server it did not start or was not pointed at through EnvAdminDSN.
package pgtest
