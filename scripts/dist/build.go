package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// platform is a GOOS/GOARCH pair.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "/" + p.arch }

// exe is the binary's file name on p.
func (p platform) exe() string {
	if p.os == "windows" {
		return "portcullis.exe"
	}
	return "portcullis"
}

// parsePlatform reads GOOS/GOARCH.
func parsePlatform(s string) (platform, error) {
	goos, arch, ok := strings.Cut(s, "/")
	if !ok || goos == "" || arch == "" || strings.Contains(arch, "/") {
		return platform{}, fmt.Errorf("platform %q: want GOOS/GOARCH, e.g. linux/amd64", s)
	}
	return platform{goos, arch}, nil
}

func hasPlatform(list []platform, p platform) bool {
	for _, v := range list {
		if v == p {
			return true
		}
	}
	return false
}

// buildInfoPkg is the package whose variables the linker stamps (internal/buildinfo.Stamp).
const buildInfoPkg = "github.com/portcullis/portcullis/internal/buildinfo"

// ldflags strips the symbol tables and stamps version, commit and date.
func ldflags(version, commit string, date time.Time) string {
	return fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s -X %s.date=%s",
		buildInfoPkg, version, buildInfoPkg, commit, buildInfoPkg, date.Format(time.RFC3339))
}

// build compiles cmd/portcullis for p (static, reproducible paths) into out/bin/OS_ARCH/.
func build(ctx context.Context, repo string, o options, p platform) (string, error) {
	dir, err := filepath.Abs(filepath.Join(o.out, "bin", p.os+"_"+p.arch))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, p.exe())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags(o.version, o.commit, o.date), "-o", bin, "./cmd/portcullis")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOOS="+p.os, "GOARCH="+p.arch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w", p, err)
	}
	return bin, nil
}
