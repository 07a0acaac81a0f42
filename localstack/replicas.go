package localstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
)

// With Options.Replicas > 1 the stack runs the CM as replicas cm-1 … cm-N on one shared store,
// behind a real HAProxy (haproxy.go) whose address is CMURL and every replica's public URL:
// Hosts, relays and Guests know only it. Each replica serves on a loopback socket of its own,
// which the stack hands down and then closes, so a killed replica's port refuses connections
// as a dead process's does; a restarted one serves on a new port that HAProxy is told.
//
// The development identity provider keeps its signing keys and device-flow state in process
// memory, so it cannot sit behind the load balancer: it runs as a process of its own, "idp" (a
// CM with --dev-idp on its own SQLite store), which every replica trusts as its --oidc-issuer
// and users sign in with directly, as with a company's identity provider; it accepts the
// replicas' web console (behind the load balancer) as a client too.

// replica is one CM replica behind the load balancer.
type replica struct {
	// name is its process name and --instance, "cm-<i>".
	name string
	// addr is where it serves now, "127.0.0.1:PORT".
	addr string
	proc *Proc
}

// startReplicated starts the identity provider, the replicas and the load balancer in front
// of them, and waits until the load balancer counts every replica as up.
func (s *Stack) startReplicated(ctx context.Context) error {
	if !sharedStore(s.opts.Store) {
		return fmt.Errorf("localstack: %d CM replicas need a store they can share (postgres://…), not %q", s.opts.Replicas, s.opts.Store)
	}
	if s.opts.HeartbeatListener {
		return errors.New("localstack: the signed-heartbeat listener is not supported with CM replicas")
	}
	lb, err := listenLoopback()
	if err != nil {
		return err
	}
	defer lb.close() // HAProxy has its own copy
	s.CMURL = "https://" + lb.addr
	if err := s.startIdP(ctx); err != nil {
		return err
	}
	for i := 1; i <= s.opts.Replicas; i++ {
		s.replicas = append(s.replicas, &replica{name: fmt.Sprintf("cm-%d", i)})
	}
	// All start at once; each then loads and tests its policy on its own.
	for _, r := range s.replicas {
		if err := s.spawnReplica(ctx, r, r.name); err != nil {
			return err
		}
	}
	for _, r := range s.replicas {
		if err := s.waitReplica(ctx, r); err != nil {
			return err
		}
	}
	s.cm = s.replicas[0].proc
	if err := s.startLB(ctx, lb); err != nil {
		return err
	}
	return s.WaitLB(ctx, s.ReplicaNames()...)
}

// sharedStore reports whether dsn names a store several CM processes can share.
func sharedStore(dsn string) bool {
	for _, p := range []string{"postgres://", "postgresql://", "cockroach://", "cockroachdb://"} {
		if strings.HasPrefix(dsn, p) {
			return true
		}
	}
	return false
}

// startIdP starts the identity provider process and notes its issuer.
func (s *Stack) startIdP(ctx context.Context) error {
	sock, err := listenLoopback()
	if err != nil {
		return err
	}
	defer sock.close()
	url := "https://" + sock.addr
	l := &launch{name: "idp", args: []string{"cm", "--public-url", url, "--certs-dir", s.CertsDir(),
		"--store", "sqlite:" + filepath.Join(s.opts.Dir, "idp.db"), "--dev-idp", "--instance", "idp",
		// The replicas' web console signs people in through this provider too.
		"--dev-idp-console-url", s.CMURL}}
	if err := l.listenOn("--listen", sock); err != nil {
		return err
	}
	if _, err := s.spawn(ctx, l); err != nil {
		return err
	}
	var ac api.AuthConfig
	if err := s.waitFor(ctx, func() bool {
		return api.Call(ctx, s.http, http.MethodGet, url+api.PathAuthConfig, "", nil, &ac) == nil
	}); err != nil {
		return fmt.Errorf("localstack: the identity provider did not come up: %w", err)
	}
	s.issuer = ac.Issuer
	return nil
}

// startReplica starts replica r on a new loopback socket, logging as logName, and waits until
// it is ready.
func (s *Stack) startReplica(ctx context.Context, r *replica, logName string) error {
	if err := s.spawnReplica(ctx, r, logName); err != nil {
		return err
	}
	return s.waitReplica(ctx, r)
}

// spawnReplica starts replica r on a new loopback socket, logging as logName.
func (s *Stack) spawnReplica(ctx context.Context, r *replica, logName string) error {
	sock, err := listenLoopback()
	if err != nil {
		return err
	}
	defer sock.close() // the replica has its own copy: once it dies, its port refuses
	l := &launch{name: logName, args: []string{"cm", "--public-url", s.CMURL, "--certs-dir", s.CertsDir(),
		"--store", s.opts.Store, "--instance", r.name, "--oidc-issuer", s.issuer}}
	if err := l.listenOn("--listen", sock); err != nil {
		return err
	}
	l.args = append(l.args, s.opts.CMArgs...)
	p, err := s.spawn(ctx, l)
	if err != nil {
		return err
	}
	r.proc, r.addr = p, sock.addr
	return nil
}

// waitReplica waits until replica r says it is ready on its own address.
func (s *Stack) waitReplica(ctx context.Context, r *replica) error {
	if err := s.waitFor(ctx, func() bool {
		return api.Call(ctx, s.http, http.MethodGet, s.ReplicaURL(r.name)+api.PathReadyz, "", nil, nil) == nil
	}); err != nil {
		return fmt.Errorf("localstack: replica %s did not become ready: %w", r.name, err)
	}
	return nil
}

// ReplicaNames returns the names of the CM replicas, cm-1 … cm-N; none for a single CM.
func (s *Stack) ReplicaNames() []string {
	names := make([]string, len(s.replicas))
	for i, r := range s.replicas {
		names[i] = r.name
	}
	return names
}

// replica returns the replica named name; it panics on a name ReplicaNames does not list,
// which is a bug of the caller.
func (s *Stack) replica(name string) *replica {
	for _, r := range s.replicas {
		if r.name == name {
			return r
		}
	}
	panic("localstack: no CM replica " + name)
}

// Replica returns the current process of the replica named name.
func (s *Stack) Replica(name string) *Proc { return s.replica(name).proc }

// ReplicaURL returns the HTTPS base URL of the replica named name itself, bypassing the load
// balancer; it changes when the replica restarts.
func (s *Stack) ReplicaURL(name string) string { return "https://" + s.replica(name).addr }

// KillReplica ends the replica named name with SIGKILL, as a crash would. Its port refuses
// connections from then on; HAProxy takes it out of rotation when its health checks fail.
func (s *Stack) KillReplica(name string) { s.replica(name).proc.Kill() }

// RestartReplica starts the replica named name again, with the same instance name, store and
// keys, on a new port, logging as logName; it points HAProxy at the new port and waits until
// HAProxy counts it as up again (or as in maintenance, when Route left it out).
func (s *Stack) RestartReplica(ctx context.Context, name, logName string) error {
	r := s.replica(name)
	if !r.proc.Exited() {
		return fmt.Errorf("localstack: replica %s is still running", name)
	}
	if err := s.startReplica(ctx, r, logName); err != nil {
		return err
	}
	if err := s.lbSetAddr(name, r.addr); err != nil {
		return err
	}
	return s.waitFor(ctx, func() bool {
		st, err := s.LBStatus()
		return err == nil && (strings.HasPrefix(st[name], "UP") || strings.HasPrefix(st[name], "MAINT"))
	})
}

// ShareLogin makes u's cached sign-in (ID token and key-bound credential) valid for cmURL as
// well, e.g. a replica's own URL: the replicas share one identity provider and one CA, and
// the CLI keeps a sign-in per CM URL.
func (s *Stack) ShareLogin(u User, cmURL string) error {
	cache := identity.TokenCache{Dir: u.ConfigDir}
	tok, err := cache.Load(s.CMURL)
	if err != nil {
		return err
	}
	if err := cache.Save(cmURL, tok); err != nil {
		return err
	}
	for _, ext := range []string{".key", ".crt"} {
		from, err := cache.File(s.CMURL, "credential", ext)
		if err != nil {
			return err
		}
		to, err := cache.File(cmURL, "credential", ext)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(from)
		if err != nil {
			return fmt.Errorf("localstack: %w", err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			return fmt.Errorf("localstack: %w", err)
		}
	}
	return nil
}

// GuestAt returns the command line of a Guest command run as u against the CM at cmURL (see
// ShareLogin), e.g. a replica's own URL.
func (s *Stack) GuestAt(ctx context.Context, u User, cmURL string, args ...string) *exec.Cmd {
	full := append([]string{args[0], "--cm", cmURL, "--ca-file", s.CAFile, "--config-dir", u.ConfigDir}, args[1:]...)
	return exec.CommandContext(ctx, s.opts.Bin, full...)
}

// replicated reports whether the stack runs CM replicas.
func (s *Stack) replicated() bool { return len(s.replicas) > 0 }

// checkNames reports an error for any name that is not a replica's.
func (s *Stack) checkNames(names []string) error {
	for _, n := range names {
		if !slices.Contains(s.ReplicaNames(), n) {
			return fmt.Errorf("localstack: no CM replica %s", n)
		}
	}
	return nil
}
