package pgtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Freeze stops every process of the server with SIGSTOP: the postmaster and its backends keep
// their sockets, so clients connect and send but get no answer, as with a hung database
// machine. Thaw resumes them.
func (s *Server) Freeze() error { return s.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() error { return s.signalAll(syscall.SIGCONT) }

// signalAll sends sig to the postmaster and to each of its children, listing them again until
// no new one appears: a backend the postmaster forked while the list was read (a client's new
// connection) would otherwise be left running, and answer, beside a frozen server.
func (s *Server) signalAll(sig syscall.Signal) error {
	signaled := map[int]bool{}
	for {
		pids, err := s.processes()
		if err != nil {
			return err
		}
		fresh := 0
		for _, pid := range pids {
			if signaled[pid] {
				continue
			}
			if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) { // ESRCH: it has exited
				return fmt.Errorf("pgtest: signal %d: %w", pid, err)
			}
			signaled[pid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
}

// processes returns the postmaster's pid (from postmaster.pid) and its children's (from /proc).
func (s *Server) processes() ([]int, error) {
	master, err := s.PostmasterPID()
	if err != nil {
		return nil, err
	}
	pids := []int{master}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parentOf(pid) == master {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// parentOf reads a process's parent pid from /proc/<pid>/status; 0 when it cannot.
func parentOf(pid int) int {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PPid:"); ok {
			ppid, _ := strconv.Atoi(strings.TrimSpace(v))
			return ppid
		}
	}
	return 0
}
