// Command dist builds Portcullis's release files: the portcullis binary for each platform,
// packed in an archive (tar.gz for Linux and macOS, zip for Windows) with the README and the
// install guide, Debian packages of the daemons (built with nfpm) and SHA256SUMS over all of
// them. `make dist` runs it for the five release platforms; `make test-deb` for linux/amd64's
// packages only.
//
// It is its own Go module so that nfpm's dependencies never meet the server's in one build
// list (nfpm needs github.com/gobwas/glob v0.2.3's API, OPA v1.1.0's).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

// options are dist's command line.
type options struct {
	repo      string
	out       string
	version   string
	commit    string
	date      time.Time
	platforms []platform
	debArches []string
	archives  bool
	// bin, when set, is a binary already built for the one platform, packed instead of building.
	bin string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts, err := parseFlags(os.Args[1:])
	if err == nil {
		err = run(ctx, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	var o options
	var platforms, debArches, date string
	fs.StringVar(&o.repo, "repo", "../..", "the Portcullis checkout to build")
	fs.StringVar(&o.out, "out", "dist", "directory to write the release files to (emptied first)")
	fs.StringVar(&o.version, "version", "0.0.0-dev", "release version (semantic version, without a leading v)")
	fs.StringVar(&o.commit, "commit", "", "commit stamped into the binaries")
	fs.StringVar(&date, "date", "", "build date stamped into the binaries and packages, RFC 3339 (default: now)")
	fs.StringVar(&platforms, "platforms", "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64", "GOOS/GOARCH pairs to build, space-separated")
	fs.StringVar(&debArches, "deb", "amd64 arm64", "Linux architectures to build .deb packages for, space-separated (\"\" for none)")
	fs.BoolVar(&o.archives, "archives", true, "write an archive per platform")
	fs.StringVar(&o.bin, "bin", "", "pack this binary, already built for the one platform in -platforms, instead of building one (make test-deb: the binary make build made, which shares the tests' build cache)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.date = time.Now().UTC().Truncate(time.Second)
	if date != "" {
		d, err := time.Parse(time.RFC3339, date)
		if err != nil {
			return o, fmt.Errorf("-date: %w", err)
		}
		o.date = d.UTC()
	}
	o.version = strings.TrimPrefix(o.version, "v")
	for _, p := range strings.Fields(platforms) {
		pl, err := parsePlatform(p)
		if err != nil {
			return o, err
		}
		o.platforms = append(o.platforms, pl)
	}
	if o.bin != "" && len(o.platforms) != 1 {
		return o, fmt.Errorf("-bin packs one binary: -platforms must name exactly one platform, not %d", len(o.platforms))
	}
	o.debArches = strings.Fields(debArches)
	for _, a := range o.debArches {
		if !hasPlatform(o.platforms, platform{"linux", a}) {
			return o, fmt.Errorf("-deb %s needs linux/%s in -platforms", a, a)
		}
	}
	return o, nil
}

func run(ctx context.Context, o options) error {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(o.out, "bin"), 0o755); err != nil {
		return err
	}
	var written []string
	for _, p := range o.platforms {
		bin, err := o.bin, error(nil)
		if bin == "" {
			bin, err = build(ctx, repo, o, p)
		}
		if err != nil {
			return err
		}
		slog.Info("built", "platform", p, "binary", bin)
		if o.archives {
			name, err := writeArchive(o.out, repo, o.version, p, bin)
			if err != nil {
				return fmt.Errorf("archive %s: %w", p, err)
			}
			written = append(written, name)
		}
		if p.os == "linux" && contains(o.debArches, p.arch) {
			names, err := writeDebs(o.out, repo, o.version, o.date, p.arch, bin)
			if err != nil {
				return fmt.Errorf("deb %s: %w", p.arch, err)
			}
			written = append(written, names...)
		}
	}
	if err := writeSums(o.out, written); err != nil {
		return err
	}
	for _, n := range written {
		fmt.Println(filepath.Join(o.out, n))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
