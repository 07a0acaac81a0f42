package guest

import (
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/windows"
	"golang.org/x/term"
)

// windowPollInterval is how often the console's size is read: Windows has no SIGWINCH.
const windowPollInterval = 250 * time.Millisecond

// terminalSize returns the console's size: a console input handle has none, so it is read from
// the output when that is a console.
func terminalSize(fd int, out io.Writer) (cols, rows int, err error) {
	if cols, rows, err = term.GetSize(fd); err == nil {
		return cols, rows, nil
	}
	if f, ok := out.(*os.File); ok {
		return term.GetSize(int(f.Fd()))
	}
	return 0, 0, err
}

// prepareOutput lets the console interpret the Host's escape sequences (virtual terminal
// processing) when out is a console; the returned func restores its mode.
func prepareOutput(out io.Writer) func() {
	f, ok := out.(*os.File)
	if !ok {
		return func() {}
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if windows.GetConsoleMode(h, &mode) != nil {
		return func() {}
	}
	if windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) != nil {
		return func() {}
	}
	return func() { _ = windows.SetConsoleMode(h, mode) }
}

// watchWindow polls the console's size every windowPollInterval and sends window-change when
// it changed, until the returned func is called.
func watchWindow(sess *ssh.Session, size func() (cols, rows int, err error)) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		lastCols, lastRows, _ := size()
		tick := time.NewTicker(windowPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				cols, rows, err := size()
				if err != nil || (cols == lastCols && rows == lastRows) {
					continue
				}
				lastCols, lastRows = cols, rows
				_ = sess.WindowChange(rows, cols)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
