// Package buildinfo tells which build of Portcullis is running: the release version and build
// date stamped by the linker (make dist: -ldflags "-X ...") and the commit, its date and the Go
// version recorded by the Go toolchain (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version, commit and date are set by the linker (-X, see Stamp); they are never written at run
// time. The commit stamp serves builds made where the toolchain records no VCS settings
// (-buildvcs=false, a source archive).
var (
	version = ""
	commit  = ""
	date    = ""
)

// Stamp returns the -ldflags that set a build's version, commit and date.
func Stamp(version, commit, date string) string {
	const pkg = "github.com/portcullis/portcullis/internal/buildinfo."
	return fmt.Sprintf("-X %sversion=%s -X %scommit=%s -X %sdate=%s", pkg, version, pkg, commit, pkg, date)
}

// devVersion names a build not stamped with a release version (go build, go run).
const devVersion = "dev"

// Info describes one build.
type Info struct {
	// Version is the release version (e.g. 1.2.0), or the module version, or "dev".
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from; "" when unknown.
	Commit string `json:"commit"`
	// Modified reports uncommitted changes in the work tree at build time.
	Modified bool `json:"modified"`
	// Date is the build date (RFC 3339) stamped by make dist, else the commit's date; "" when unknown.
	Date string `json:"date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version, commit, date)
}

// fromBuildInfo combines the toolchain's record bi (nil when the binary has none) with the
// linker-stamped version, commit and date; the toolchain's VCS revision wins over the stamp.
func fromBuildInfo(bi *debug.BuildInfo, stampedVersion, stampedCommit, stampedDate string) Info {
	info := Info{Version: stampedVersion, Commit: stampedCommit, Date: stampedDate, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if info.Version == "" {
			info.Version = devVersion
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	var commitTime string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			commitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Version == "" {
		info.Version = devVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
	}
	if info.Date == "" {
		info.Date = commitTime
	}
	return info
}

// String is the one-line form printed by --version.
func (i Info) String() string {
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	if i.Modified {
		commit += "+dirty"
	}
	date := i.Date
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("portcullis %s (commit %s, built %s, %s, %s)", i.Version, commit, date, i.GoVersion, i.Platform)
}
