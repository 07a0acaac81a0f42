//go:build !linux

package pgtest

import "errors"

// errNoFreeze says that freezing needs Linux's /proc.
var errNoFreeze = errors.New("pgtest: Freeze and Thaw need Linux")

// Freeze is available on Linux only.
func (s *Server) Freeze() error { return errNoFreeze }

// Thaw is available on Linux only.
func (s *Server) Thaw() error { return errNoFreeze }
