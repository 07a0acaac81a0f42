//go:build !linux

package store

import (
	"context"
	"time"
)

// serverCPU needs Linux's /proc to tell a PostgreSQL server's CPU time.
func serverCPU(context.Context, *DB) (time.Duration, bool) { return 0, false }
