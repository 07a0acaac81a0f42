package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
)

// Progress bar of long transfers.
const (
	// progressAfter is how long a file copies before its progress bar appears.
	progressAfter = time.Second
	// progressEvery is the shortest time between two redraws.
	progressEvery = 200 * time.Millisecond
	// progressWidth is the bar's width in cells.
	progressWidth = 30
)

// cpConfig is the configuration of 'cp'.
type cpConfig struct {
	guestConfig `mapstructure:",squash"`
	Recursive   bool `mapstructure:"recursive"`
}

func newCpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cp [-r] SRC DST",
		Short: "Copy files between this machine and a Host over SFTP (one side is HOST:PATH)",
		Long: "Copy SRC to DST; exactly one of them is HOST:PATH. A file is written under a temporary name and renamed " +
			"when complete, on both ends, so an interrupted copy never leaves a half-written file under its final name. " +
			"A progress bar shows on stderr when it is a terminal and a file takes more than a second. " +
			"A name the Host gives a file that is not one plain file name here (.., a / or \\, on Windows a drive or device) " +
			"is skipped and named in the error: nothing is written outside DST. On Windows, C:\\... is a local path.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg cpConfig
			if err := loadConfig(cmd, &cfg); err != nil {
				return err
			}
			return runCp(cmd, cfg.guestConfig, guest.ParseLocation(args[0]), guest.ParseLocation(args[1]), cfg.Recursive)
		},
	}
	addSessionFlags(cmd)
	cmd.Flags().BoolP("recursive", "r", false, "copy directories recursively")
	return cmd
}

func runCp(cmd *cobra.Command, cfg guestConfig, src, dst guest.Location, recursive bool) error {
	host := src.Host
	switch {
	case src.Host != "" && dst.Host != "":
		return fmt.Errorf("%w: copy between two Hosts is not supported; copy through this machine", guest.ErrBadCopy)
	case src.Host == "" && dst.Host == "":
		return fmt.Errorf("%w: one side must be HOST:PATH", guest.ErrBadCopy)
	case host == "":
		host = dst.Host
	}
	return runGuestSession(cmd, cfg, host, []string{"sftp"}, func(ctx context.Context, s *guest.Session) (int, error) {
		cp, err := guest.NewCopier(s.Client, recursive, progressBar(cmd.ErrOrStderr(), time.Now))
		if err != nil {
			return -1, err
		}
		defer cp.Client.Close()
		if src.Host != "" {
			return 0, cp.Download(ctx, src.Path, dst.Path)
		}
		return 0, cp.Upload(ctx, src.Path, dst.Path)
	})
}

// progressBar draws a bar on w when w is a terminal, for files that take longer than
// progressAfter by the clock now; otherwise it returns nil (no progress shown). A file's name
// may come from the Host: it is printed sanitized (no terminal escape sequences).
func progressBar(w io.Writer, now func() time.Time) guest.Progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	var name string
	var started, drawn time.Time
	return func(file string, done, size int64) {
		now := now()
		if file != name {
			name, started, drawn = file, now, time.Time{}
		}
		finished := done == size
		if now.Sub(started) < progressAfter || (!finished && now.Sub(drawn) < progressEvery) {
			return
		}
		drawn = now
		fmt.Fprintf(w, "\r%s %s %s/s", endpoint.Sanitize(file), bar(done, size), humanBytes(float64(done)/now.Sub(started).Seconds()))
		if finished {
			fmt.Fprintln(w)
		}
	}
}

// bar renders done of size as a fixed-width bar with a percentage.
func bar(done, size int64) string {
	frac := 1.0
	if size > 0 {
		frac = float64(done) / float64(size)
	}
	cells := int(frac * progressWidth)
	b := make([]byte, progressWidth)
	for i := range b {
		b[i] = ' '
		if i < cells {
			b[i] = '#'
		}
	}
	return fmt.Sprintf("[%s] %3.0f%% %s", b, 100*frac, humanBytes(float64(done)))
}

// humanBytes prints a byte count with a binary unit.
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
