//go:build !unix && !windows

package ticket

import (
	"errors"
	"os"
)

// tryLock fails where this package cannot lock a file: an unlocked replay log could admit a
// ticket once per process, so a replay log is refused there (fail closed).
func tryLock(*os.File) error {
	return errors.New("locking a file is not supported on this platform")
}
