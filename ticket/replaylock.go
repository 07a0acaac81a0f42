package ticket

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// lockFileName is the file in a replay log's directory that the process using the log holds
// an exclusive OS lock on (replaylock_*.go). Its presence also says that the directory has
// held a replay log before: a directory without it (new, lost or recreated) remembers no
// ticket, so the cache it opens refuses the tickets valid before it opened (KnownSince).
const lockFileName = "replay.lock"

// errLockHeld is tryLock's answer when another open file holds the lock.
var errLockHeld = errors.New("locked by another process")

// ErrReplayLogInUse means another replay cache (another CS process, or another relay run with
// the same state directory) has the replay log open: two caches on one log would each admit
// the same ticket once.
var ErrReplayLogInUse = errors.New("ticket: replay log in use by another process")

// lockDir creates (if missing) and locks dir's lock file, and reports whether it existed. The
// lock lasts until the returned file is closed or the process ends.
func lockDir(dir string) (f *os.File, existed bool, err error) {
	path := filepath.Join(dir, lockFileName)
	_, statErr := os.Lstat(path)
	switch {
	case statErr == nil:
		existed = true
	case !errors.Is(statErr, fs.ErrNotExist):
		return nil, false, fmt.Errorf("ticket: replay log lock: %w", statErr)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, logFileMode)
	if err != nil {
		return nil, false, fmt.Errorf("ticket: replay log lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		_ = f.Close()
		if errors.Is(err, errLockHeld) {
			return nil, false, fmt.Errorf("%w: %s is locked (%s): is another relay running with this state directory?",
				ErrReplayLogInUse, dir, lockFileName)
		}
		return nil, false, fmt.Errorf("ticket: replay log lock %s: %w", path, err)
	}
	if !existed {
		if err := syncDir(dir); err != nil {
			_ = f.Close()
			return nil, false, fmt.Errorf("ticket: replay log lock: %w", err)
		}
	}
	return f, existed, nil
}
