package guest

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// The names a Host gives the files of a directory it lists are not trusted: a download writes
// each under the local destination, so each must be exactly one file name there, by the rules
// of the Guest's OS. A name such as "..", "a/b" or, on Windows, `..\x.bat` or "C:x" would
// otherwise place a file outside the destination (as the scp flaw CVE-2019-6111 did).

// ErrUnsafeName reports a file name that cannot be one file's name in a local directory.
var ErrUnsafeName = errors.New("guest: not a safe local file name")

// ParseLocation parses "HOST:PATH" (a Host path) or "PATH" (a local one). A colon after the
// first slash belongs to a local path, as in scp; on Windows, so does the colon of a drive
// letter ("C:\Users\bob"), and a one-letter Host cannot be named.
func ParseLocation(s string) Location {
	return parseLocation(s, windowsPaths)
}

// parseLocation is ParseLocation on an OS whose local paths are Windows paths when windows is
// set.
func parseLocation(s string, windows bool) Location {
	if windows && hasDriveLetter(s) {
		return Location{Path: s}
	}
	host, p, ok := strings.Cut(s, ":")
	if !ok || host == "" || strings.Contains(host, "/") || (windows && strings.Contains(host, `\`)) {
		return Location{Path: s}
	}
	if p == "" {
		p = "."
	}
	return Location{Host: host, Path: p}
}

// hasDriveLetter reports whether s begins with a Windows drive letter: one ASCII letter and a
// colon ("C:\x", "C:/x", "C:x", "C:"), as filepath.VolumeName reads it on Windows.
func hasDriveLetter(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

// joinLocal joins dir and name, a file name from the Host, refusing (ErrUnsafeName) a name
// that is not one file name in dir on this OS or a result that is not inside dir.
func joinLocal(dir, name string) (string, error) {
	if err := checkFileName(name, windowsPaths); err != nil {
		return "", err
	}
	if !filepath.IsLocal(name) {
		return "", fmt.Errorf("%w: %q: not a local name on this system", ErrUnsafeName, name)
	}
	p := filepath.Join(dir, name)
	if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w: %q: leads outside %s", ErrUnsafeName, name, dir)
	}
	return p, nil
}

// checkFileName reports (ErrUnsafeName) why name is not exactly one file name in a directory:
// by the rules of every OS, and by those of Windows when windows is set. A backslash is
// refused on every OS: it would separate elements on a Windows Guest.
func checkFileName(name string, windows bool) error {
	why := ""
	switch {
	case name == "":
		why = "empty"
	case name == "." || name == "..":
		why = "names a directory, not a file in it"
	case strings.ContainsAny(name, `/\`):
		why = "holds a path separator"
	case strings.IndexByte(name, 0) >= 0:
		why = "holds a NUL byte"
	case windows:
		why = windowsNameProblem(name)
	}
	if why != "" {
		return fmt.Errorf("%w: %q: %s", ErrUnsafeName, name, why)
	}
	return nil
}

// windowsNameProblem says why name is not one plain file name on Windows, or "" when it is.
func windowsNameProblem(name string) string {
	switch {
	case strings.ContainsRune(name, ':'):
		return "a colon names a drive or a stream on Windows"
	case strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || strings.ContainsRune(`<>"|?*`, r) }):
		return "holds a character Windows does not allow in a file name"
	case strings.HasSuffix(name, " ") || strings.HasSuffix(name, "."):
		return "Windows drops a trailing space or dot"
	case isWindowsDevice(name):
		return "names a Windows device"
	}
	return ""
}

// isWindowsDevice reports whether name opens a device on Windows (CON, NUL, COM1, ...), with
// or without an extension ("nul.txt" is a device before Windows 11).
func isWindowsDevice(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	for _, prefix := range []string{"COM", "LPT"} {
		if rest, ok := strings.CutPrefix(base, prefix); ok {
			return isDeviceNumber(rest)
		}
	}
	return false
}

// isDeviceNumber reports whether s numbers a COM or LPT device: a digit, or a superscript one,
// two or three.
func isDeviceNumber(s string) bool {
	return len(s) == 1 && '0' <= s[0] && s[0] <= '9' || s == "¹" || s == "²" || s == "³"
}
