package ttyprompt

import (
	"os"

	"golang.org/x/sys/windows"
)

// hideEcho turns the console f to line input without echo and returns what restores its
// previous mode.
func hideEcho(f *os.File) (restore func() error, err error) {
	h := windows.Handle(f.Fd())
	var was uint32
	if err := windows.GetConsoleMode(h, &was); err != nil {
		return nil, err
	}
	hidden := was&^windows.ENABLE_ECHO_INPUT | windows.ENABLE_PROCESSED_INPUT | windows.ENABLE_LINE_INPUT
	if err := windows.SetConsoleMode(h, hidden); err != nil {
		return nil, err
	}
	return func() error { return windows.SetConsoleMode(h, was) }, nil
}
