package host

import (
	"os"
	"runtime"
	"strings"
)

// The Host agent's defaults on each operating system, kept together (and pure, see shellFor and
// stateDirFor) so that every platform's values are tested on any of them.
const (
	// unixShell is the default shell on Linux, macOS and the other Unix systems.
	unixShell = "/bin/sh"
	// windowsShell is the default shell on Windows.
	windowsShell = `C:\Windows\System32\cmd.exe`
	// unixStateDir is the default state directory on Linux and the other Unix systems (the
	// Debian package's systemd StateDirectory).
	unixStateDir = "/var/lib/portcullis/host"
	// darwinStateDir is the default state directory on macOS, where /var/lib is not a system
	// location.
	darwinStateDir = "/Library/Application Support/Portcullis/host"
	// windowsStateDir is the default state directory on Windows, under %ProgramData%.
	windowsStateDir = `Portcullis\host`
	// windowsProgramData is %ProgramData% when the environment does not name it.
	windowsProgramData = `C:\ProgramData`
)

// DefaultStateDir is the directory where the Host agent keeps its key, certificate and identity
// by default on this operating system: /var/lib/portcullis/host on Linux,
// /Library/Application Support/Portcullis/host on macOS, %ProgramData%\Portcullis\host on
// Windows.
func DefaultStateDir() string { return stateDirFor(runtime.GOOS, os.Getenv) }

// stateDirFor is the default state directory on goos, reading %ProgramData% with getenv.
func stateDirFor(goos string, getenv func(string) string) string {
	switch goos {
	case "windows":
		base := strings.TrimRight(getenv("ProgramData"), `\/`)
		if base == "" {
			base = windowsProgramData
		}
		return base + `\` + windowsStateDir
	case "darwin", "ios":
		return darwinStateDir
	default:
		return unixStateDir
	}
}

// shellFor is the default shell on goos (DefaultShell is this operating system's).
func shellFor(goos string) string {
	if goos == "windows" {
		return windowsShell
	}
	return unixShell
}
