//go:build unix

package guest

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// terminalSize returns the size of the terminal on fd.
func terminalSize(fd int, _ io.Writer) (cols, rows int, err error) {
	return term.GetSize(fd)
}

// prepareOutput has nothing to do on Unix: a terminal understands the Host's escape sequences.
func prepareOutput(io.Writer) func() { return func() {} }

// watchWindow sends window-change with the new size on every SIGWINCH until the returned func
// is called.
func watchWindow(sess *ssh.Session, size func() (cols, rows int, err error)) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-sigs:
				if cols, rows, err := size(); err == nil {
					_ = sess.WindowChange(rows, cols)
				}
			}
		}
	})
	return func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
	}
}
