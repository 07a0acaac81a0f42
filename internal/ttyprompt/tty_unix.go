//go:build unix

package ttyprompt

import "os"

// openTerminal opens the controlling terminal, for reading answers (in) and asking (out);
// closeAll closes it.
func openTerminal() (in, out *os.File, closeAll func(), err error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	return tty, tty, func() { _ = tty.Close() }, nil
}
