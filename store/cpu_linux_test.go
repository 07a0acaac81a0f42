package store

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100

// serverCPU is the CPU time (user and system) that the PostgreSQL server behind db has used so
// far: that of every child of the postmaster (backends, WAL writer, checkpointer, autovacuum),
// from /proc. ok is false on SQLite or when /proc cannot tell.
func serverCPU(ctx context.Context, db *DB) (cpu time.Duration, ok bool) {
	if db.d.kind != kindPostgres {
		return 0, false
	}
	var backend int
	if err := db.sql.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0, false
	}
	postmaster, _ := procStat(backend)
	if postmaster == 0 {
		return 0, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, t := procStat(pid); parent == postmaster {
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks, true
}

// procStat reads a process's parent pid and CPU ticks (utime + stime) from /proc/<pid>/stat.
func procStat(pid int) (parent int, ticks int64) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after "pid (comm)": state, ppid, …
	if len(fields) < 13 {
		return 0, 0
	}
	parent, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return parent, utime + stime
}
