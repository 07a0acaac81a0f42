package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Package metadata shared by every .deb.
const (
	maintainer = "Portcullis maintainers <portcullis@example.com>"
	homepage   = "https://github.com/portcullis/portcullis"
	license    = "Proprietary"
	unitDir    = "/usr/lib/systemd/system"
)

// daemon is one service packaged as portcullis-<name>: its unit and configuration file.
type daemon struct{ name, summary string }

// daemons are the services packaged beside the base package (which holds the binary).
var daemons = [...]daemon{
	{"cm", "Portcullis Connection Manager (systemd service)"},
	{"cs", "Portcullis Connection Server, the relay (systemd service)"},
	{"host", "Portcullis Host agent (systemd service)"},
}

// debVersion is version as nfpm writes it into a .deb: a prerelease sorts before its release
// (1.2.0-rc1 becomes 1.2.0~rc1).
func debVersion(version string) string {
	return strings.Replace(version, "-", "~", 1)
}

// writeDebs writes the base package and one package per daemon for the Linux architecture
// arch into out.
func writeDebs(out, repo, version string, date time.Time, arch, bin string) ([]string, error) {
	pkgs := []*nfpm.Info{baseInfo(repo, version, date, arch, bin)}
	for _, d := range daemons {
		pkgs = append(pkgs, daemonInfo(repo, version, date, arch, d))
	}
	var names []string
	for _, info := range pkgs {
		name, err := writeDeb(out, info)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", info.Name, err)
		}
		names = append(names, name)
	}
	return names, nil
}

func writeDeb(out string, info *nfpm.Info) (string, error) {
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	name := deb.Default.ConventionalFileName(info)
	f, err := os.Create(filepath.Join(out, name))
	if err != nil {
		return "", err
	}
	err = deb.Default.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return name, err
}

// packaging is a path under the checkout's packaging/ directory.
func packaging(repo string, parts ...string) string {
	return filepath.Join(append([]string{repo, "packaging"}, parts...)...)
}

func newInfo(name, summary, version string, date time.Time, arch string) *nfpm.Info {
	return &nfpm.Info{
		Name: name, Arch: arch, Platform: "linux", Version: version, VersionSchema: "semver",
		Section: "net", Priority: "optional", Maintainer: maintainer, Description: summary,
		Vendor: "Portcullis", Homepage: homepage, License: license, MTime: date,
	}
}

// owned describes a file or directory's owner, group and mode.
func owned(owner, group string, mode os.FileMode) *files.ContentFileInfo {
	return &files.ContentFileInfo{Owner: owner, Group: group, Mode: mode}
}

// configDir is /etc/portcullis, listed in every package with the same owner and mode: a package
// unpacked first would otherwise create it 0755 (nfpm's implicit parent), and dpkg keeps an
// existing directory's mode.
func configDir() *files.Content {
	return &files.Content{Destination: "/etc/portcullis", Type: files.TypeDir, FileInfo: owned("root", "portcullis", 0o750)}
}

// baseInfo is the portcullis package: the binary (the daemons and the Guest commands), the
// configuration and state directories, the system user (preinst) and the docs.
func baseInfo(repo, version string, date time.Time, arch, bin string) *nfpm.Info {
	info := newInfo("portcullis", "Portcullis zero-trust remote access: the portcullis command", version, date, arch)
	info.Contents = files.Contents{
		{Source: bin, Destination: "/usr/bin/portcullis", FileInfo: owned("root", "root", 0o755)},
		configDir(),
		{Destination: "/etc/portcullis/certs", Type: files.TypeDir, FileInfo: owned("root", "portcullis", 0o750)},
		{Destination: "/var/lib/portcullis", Type: files.TypeDir, FileInfo: owned("portcullis", "portcullis", 0o750)},
		{Source: filepath.Join(repo, "docs", "install.md"), Destination: "/usr/share/doc/portcullis/install.md", FileInfo: owned("root", "root", 0o644)},
		{Source: filepath.Join(repo, "README.md"), Destination: "/usr/share/doc/portcullis/README.md", FileInfo: owned("root", "root", 0o644)},
	}
	info.Scripts = nfpm.Scripts{
		PreInstall: packaging(repo, "deb", "preinst.sh"),
		PostRemove: packaging(repo, "deb", "postrm.sh"),
	}
	return info
}

// daemonInfo is portcullis-<d.name>: the hardened systemd unit and the configuration file (a
// conffile, kept on upgrade when edited and on remove until purge).
func daemonInfo(repo, version string, date time.Time, arch string, d daemon) *nfpm.Info {
	name := "portcullis-" + d.name
	info := newInfo(name, d.summary, version, date, arch)
	info.Depends = []string{fmt.Sprintf("portcullis (= %s)", debVersion(version))}
	info.Contents = files.Contents{
		configDir(),
		{Source: packaging(repo, "systemd", name+".service"), Destination: unitDir + "/" + name + ".service", FileInfo: owned("root", "root", 0o644)},
		{Source: packaging(repo, "etc", d.name+".yaml"), Destination: "/etc/portcullis/" + d.name + ".yaml", Type: files.TypeConfigNoReplace, FileInfo: owned("root", "portcullis", 0o640)},
	}
	info.Scripts = nfpm.Scripts{
		PreInstall:  packaging(repo, "deb", "preinst.sh"),
		PostInstall: packaging(repo, "deb", "postinst-daemon.sh"),
		PreRemove:   packaging(repo, "deb", "prerm-daemon.sh"),
		PostRemove:  packaging(repo, "deb", "postrm-daemon.sh"),
	}
	return info
}
