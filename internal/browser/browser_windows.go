package browser

import (
	"context"

	"golang.org/x/sys/windows"
)

// open hands address to the shell's handler of its scheme (the default browser for http and
// https), as rundll32 url.dll,FileProtocolHandler does, without a console window.
func open(_ context.Context, address string) error {
	verb, err := windows.UTF16PtrFromString("open")
	if err != nil {
		return err
	}
	file, err := windows.UTF16PtrFromString(address)
	if err != nil {
		return err
	}
	return windows.ShellExecute(0, verb, file, nil, nil, windows.SW_SHOWNORMAL)
}
