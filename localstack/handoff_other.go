//go:build !windows

package localstack

import (
	"fmt"
	"os"
)

// handoff returns the listen address under which a child serves on s when s is handed to it
// as its n-th extra file (exec.Cmd.ExtraFiles: file descriptor 3+n), and that file, a copy
// the caller closes once the child has started.
func (s *socket) handoff(n int) (string, *os.File, error) {
	f, err := s.ln.File()
	if err != nil {
		return "", nil, fmt.Errorf("localstack: hand down %s: %w", s.addr, err)
	}
	return fmt.Sprintf("fd:%d", 3+n), f, nil
}
