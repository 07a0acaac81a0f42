package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvAdminDSN names the environment variable that holds the admin DSN of a shared server; when
// it is set, Start creates its databases there instead of starting a server.
const EnvAdminDSN = "PORTCULLIS_PGTEST_ADMIN_DSN"

// Limits and settings of the throwaway servers.
const (
	// startTimeout bounds initdb plus server start plus readiness.
	startTimeout = 90 * time.Second
	// stopTimeout bounds pg_ctl stop.
	stopTimeout = 30 * time.Second
	// readyPoll is the pause between two readiness probes.
	readyPoll = 50 * time.Millisecond
	// maxStartAttempts bounds server starts, each on a newly picked port (another process may
	// take a free port before the server binds it).
	maxStartAttempts = 3
	// waitDelay bounds how long a finished command's pipes are drained.
	waitDelay = 5 * time.Second
	// maxConnections is the server's max_connections.
	maxConnections = 300
	// logTailBytes is how much of the server log an error quotes.
	logTailBytes = 2048
	// superuser is the database superuser, and the OS user the server runs as under root.
	superuser = "postgres"
)

// searchDirs returns the globs searched for PostgreSQL binaries after PATH.
func searchDirs() []string {
	return []string{"/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/pgsql-*/bin"}
}

// Server is a running throwaway PostgreSQL.
type Server struct {
	bin      string // directory of initdb, pg_ctl, postgres
	dir      string // temporary root: data/, sock/, postgres.log
	port     int
	runuser  string     // path of runuser when running as root
	osUser   *user.User // the user the server runs as under root; nil otherwise
	watchdog *exec.Cmd  // stops the server if this process dies without Stop
	durable  bool       // keep PostgreSQL's crash-safe settings (Durable)
}

// Option configures a server StartServer starts.
type Option func(*Server)

// Durable keeps PostgreSQL's crash-safe defaults (fsync, synchronous_commit and
// full_page_writes on), so that a commit waits for its WAL flush as on a production server: for
// benchmarks whose figures must include that wait. Without it the server runs with all three
// off, which is fast and what unit tests want (their data is thrown away anyway).
func Durable() Option { return func(s *Server) { s.durable = true } }

// Start returns the DSN of a new, empty database on a throwaway server: the shared one when
// EnvAdminDSN is set (see Main), else a server of its own that t.Cleanup stops and removes.
// Any failure fails t.
func Start(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	admin := os.Getenv(EnvAdminDSN)
	if admin == "" {
		srv, err := StartServer(ctx)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.Stop(); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
		admin = srv.AdminDSN()
	}
	dsn, drop, err := CreateDatabase(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
	return dsn
}

// Main starts one server for a test binary, runs its tests with EnvAdminDSN pointing at it (so
// that every Start creates a database there), stops it and returns the exit code for os.Exit.
// When EnvAdminDSN is already set, Main uses that server and starts none. A server that cannot
// start fails the binary.
func Main(m *testing.M) int {
	if os.Getenv(EnvAdminDSN) != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	srv, err := StartServer(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	code := 1
	if err := os.Setenv(EnvAdminDSN, srv.AdminDSN()); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: set %s: %v\n", EnvAdminDSN, err)
	} else {
		code = m.Run()
		_ = os.Unsetenv(EnvAdminDSN) // the process ends right after; nothing reads it any more
	}
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// StartServer initializes and starts a throwaway server; the caller must Stop it.
func StartServer(ctx context.Context, opts ...Option) (*Server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	for _, o := range opts {
		o(s)
	}
	if err := s.resolveUser(); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	if err := s.boot(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// boot runs initdb, starts the server and waits until it answers.
func (s *Server) boot(ctx context.Context) error {
	if err := s.initdb(ctx); err != nil {
		return err
	}
	var err error
	for range maxStartAttempts {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.start(ctx); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	s.startWatchdog()
	return waitReady(ctx, s.AdminDSN())
}

// AdminDSN is the superuser DSN of the server's "postgres" database.
func (s *Server) AdminDSN() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", superuser, s.port)
}

// PostmasterPID is the process id of the server's postmaster, from its postmaster.pid: the
// parent of every backend, so that its process tree holds all the server's CPU time.
func (s *Server) PostmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, fmt.Errorf("pgtest: postmaster.pid: %w", err)
	}
	return pid, nil
}

// Stop stops the server at once (pg_ctl -m immediate) and removes its directory.
func (s *Server) Stop() error {
	var errs []error
	if _, err := os.Stat(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		errs = append(errs, s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop"))
	}
	if s.watchdog != nil && s.watchdog.Process != nil {
		_ = s.watchdog.Process.Kill() // its only job was to run Stop's commands; ours just ran
		_ = s.watchdog.Wait()         // reaps it; a killed process always reports an error
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop server in %s: %w", s.dir, err)
	}
	return nil
}

// Halt stops the server (pg_ctl -m fast) but keeps its data and port, so that a test can see
// the database become unreachable; Resume starts it again.
func (s *Server) Halt(ctx context.Context) error {
	if err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("halt server in %s: %w", s.dir, err)
	}
	return nil
}

// Resume starts a halted server again on the same port and waits until it answers.
func (s *Server) Resume(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("resume server in %s: %w", s.dir, err)
	}
	return waitReady(ctx, s.AdminDSN())
}

// resolveUser picks the OS user for the server: as root, the postgres user through runuser.
func (s *Server) resolveUser() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(superuser)
	if err != nil {
		return fmt.Errorf("running as root needs an OS user %q for PostgreSQL (it refuses to run as root): %w", superuser, err)
	}
	if s.runuser, err = exec.LookPath("runuser"); err != nil {
		return fmt.Errorf("running as root needs runuser(1) to start PostgreSQL as %q: %w", superuser, err)
	}
	s.osUser = u
	return nil
}

// initdb creates the cluster in dir/data, owned by the server's user.
func (s *Server) initdb(ctx context.Context) error {
	sock := filepath.Join(s.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	if s.osUser != nil {
		uid, _ := strconv.Atoi(s.osUser.Uid) // user.Lookup returns decimal ids on Unix
		gid, _ := strconv.Atoi(s.osUser.Gid)
		for _, p := range []string{s.dir, sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("chown %s to %s: %w", p, superuser, err)
			}
		}
	}
	return s.run(ctx, "initdb", "-D", filepath.Join(s.dir, "data"), "-U", superuser, "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
}

// start starts the server on s.port and waits for pg_ctl to see it up.
func (s *Server) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=%d %s",
		s.port, filepath.Join(s.dir, "sock"), maxConnections, s.safety())
	logFile := filepath.Join(s.dir, "postgres.log")
	err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-l", logFile,
		"-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", opts, "start")
	if err != nil {
		return fmt.Errorf("%w\nserver log (tail):\n%s", err, tail(logFile))
	}
	return nil
}

// safety is the server's crash-safety settings: PostgreSQL's defaults when durable, else off.
func (s *Server) safety() string {
	v := "off"
	if s.durable {
		v = "on"
	}
	return fmt.Sprintf("-c fsync=%[1]s -c synchronous_commit=%[1]s -c full_page_writes=%[1]s", v)
}

// startWatchdog spawns a shell that stops the server and removes its directory once this
// process is gone, so a test binary killed by a timeout leaves no server behind. Stop kills it.
// Without /bin/sh there is no watchdog; Stop still cleans up after a normal exit.
func (s *Server) startWatchdog() {
	stop := shellQuote(s.command(context.Background(), "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "stop").Args)
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), stop, shellQuote([]string{s.dir}))
	cmd := exec.Command("/bin/sh", "-c", script)
	leaveProcessGroup(cmd) // a ^C to the test's group must not kill it
	if cmd.Start() == nil {
		s.watchdog = cmd
	}
}

// command builds the command for binary name of the PostgreSQL bin dir, as the server's user.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.osUser != nil {
		args = append([]string{"-u", s.osUser.Username, "--", path}, args...)
		path = s.runuser
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.dir
	cmd.WaitDelay = waitDelay
	return cmd
}

// run runs binary name and returns its output with any error.
func (s *Server) run(ctx context.Context, name string, args ...string) error {
	out, err := s.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// CreateDatabase creates a database with a random name on the server of adminDSN and returns
// its DSN and a func that drops it (closing its connections).
func CreateDatabase(ctx context.Context, adminDSN string) (dsn string, drop func(context.Context) error, err error) {
	u, err := url.Parse(adminDSN)
	if err != nil {
		return "", nil, fmt.Errorf("parse admin DSN: %w", err)
	}
	name := "pgtest_" + strings.ToLower(rand.Text()[:16])
	if err := adminExec(ctx, adminDSN, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database on %s: %w", u.Redacted(), err)
	}
	u.Path = "/" + name
	drop = func(ctx context.Context) error {
		if err := adminExec(ctx, adminDSN, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// adminExec runs one statement on its own connection to adminDSN.
func adminExec(ctx context.Context, adminDSN, stmt string) error {
	db, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// waitReady polls the server until it accepts a query.
func waitReady(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server did not become ready: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(readyPoll):
		}
	}
}

// findBinDir returns the directory that holds initdb, pg_ctl and postgres.
func findBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, pattern := range searchDirs() {
		dirs, _ := filepath.Glob(pattern) // the patterns are constant and well-formed
		slices.SortFunc(dirs, compareVersionDirs)
		candidates = append(candidates, dirs...)
	}
	for _, dir := range candidates {
		if hasBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in %s;"+
		" install PostgreSQL (e.g. apt-get install postgresql) or put its bin directory on PATH",
		strings.Join(searchDirs(), ", "))
}

// hasBinaries reports whether dir holds every binary pgtest runs.
func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersionDirs orders …/NN/bin paths newest version first.
func compareVersionDirs(a, b string) int {
	va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a))) // a non-numeric version sorts last
	vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
	return vb - va
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last logTailBytes of a file, or why it cannot be read.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-logTailBytes):])
}

// shellQuote quotes words for /bin/sh.
func shellQuote(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
