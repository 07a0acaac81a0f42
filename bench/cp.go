package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// cpRuns is how many interleaved rounds the cp section measures (one in a smoke pass); each
// figure is the median. On a 2-core machine the four processes of a transfer (Guest, CS, Host,
// the Host's cat or sftp-server) share two CPUs, and one transfer's rate can stray by a fifth
// from the next one's: five rounds keep one stray out of the median.
const cpRuns = 5

// measureCopy times `portcullis cp` (SFTP) and `portcullis exec cat` moving the same file to
// and from the bench Host (on this machine, so both sides are local paths), in interleaved
// rounds, and records MB/s and cp's share of exec cat's rate each way (target ≥ 90 %). Every
// figure includes the session's set-up, the same for both tools; the Guest's and the Host's CPU per MB
// (load-independent) show where the time goes.
func measureCopy(ctx context.Context, r *Report, st *stack, size int64, runs int) error {
	// The Host runs commands as its own local user: the files live in a directory it may
	// write, outside the suite's private working directory.
	dir, err := os.MkdirTemp("", "portcullis-bench-cp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	src := filepath.Join(dir, "source")
	if err := writeRandomFile(src, size); err != nil {
		return err
	}
	guest := func(args ...string) *exec.Cmd { return st.c.Guest(ctx, st.user, args...) }
	ways := []struct {
		name string
		cmd  func() (*exec.Cmd, string, error)
	}{
		{"exec_cat_download", func() (*exec.Cmd, string, error) {
			dst := filepath.Join(dir, "exec-down")
			out, err := os.Create(dst)
			if err != nil {
				return nil, "", err
			}
			c := guest("exec", hostName, "--", "cat", src)
			c.Stdout = out
			return c, dst, nil
		}},
		{"cp_download", func() (*exec.Cmd, string, error) {
			dst := filepath.Join(dir, "cp-down")
			return guest("cp", hostName+":"+src, dst), dst, nil
		}},
		{"exec_cat_upload", func() (*exec.Cmd, string, error) {
			dst := filepath.Join(dir, "exec-up")
			in, err := os.Open(src)
			if err != nil {
				return nil, "", err
			}
			c := guest("exec", hostName, "--", "cat > "+dst) // joined and run by the Host's shell, as ssh does
			c.Stdin = in
			return c, dst, nil
		}},
		{"cp_upload", func() (*exec.Cmd, string, error) {
			dst := filepath.Join(dir, "cp-up")
			return guest("cp", src, hostName+":"+dst), dst, nil
		}},
	}
	samples, cpu, hostCPU := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	perMB := func(d time.Duration) float64 { return d.Seconds() * 1e3 / (float64(size) / 1e6) }
	for round := range runs {
		// Odd rounds run the ways backwards, so that no way always follows the same one.
		order := slices.Clone(ways)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, w := range order {
			// The Host's CPU counts its whole process tree: exec's cat (waited for) included.
			before, err := treeCPU(st.host.Pid())
			if err != nil {
				return err
			}
			rate, guestCPU, err := timeTransfer(w.cmd, size)
			if err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			after, err := treeCPU(st.host.Pid())
			if err != nil {
				return err
			}
			samples[w.name] = append(samples[w.name], rate)
			cpu[w.name] = append(cpu[w.name], perMB(guestCPU))
			hostCPU[w.name] = append(hostCPU[w.name], perMB(after-before))
		}
	}
	rates := map[string]float64{}
	for _, w := range ways {
		s := samples[w.name]
		slices.Sort(s)
		rates[w.name] = s[len(s)/2]
		r.add("cp", w.name, rates[w.name], "MB/s")
		c := cpu[w.name]
		slices.Sort(c)
		r.add("cp", w.name+"_guest_cpu", c[len(c)/2], "ms/MB")
		h := hostCPU[w.name]
		slices.Sort(h)
		r.add("cp", w.name+"_host_cpu", h[len(h)/2], "ms/MB")
	}
	for _, way := range []string{"download", "upload"} {
		share := r.ratio("cp", "cp/exec_cat_"+way, rates["cp_"+way], rates["exec_cat_"+way])
		r.target("cp (SFTP) vs exec cat, "+way, share, AtLeast, 0.9, "x")
	}
	return nil
}

// timeTransfer runs one transfer and checks that the whole file arrived; it returns MB/s and
// the Guest process's CPU time (user and system), which the machine's load does not inflate.
func timeTransfer(prepare func() (*exec.Cmd, string, error), size int64) (float64, time.Duration, error) {
	cmd, dst, err := prepare()
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(dst)
	var errOut limitedBuffer
	cmd.Stderr = &errOut
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	for _, f := range []any{cmd.Stdin, cmd.Stdout} {
		if c, ok := f.(io.Closer); ok {
			_ = c.Close()
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w: %s", cmd.String(), err, errOut.String())
	}
	st, err := os.Stat(dst)
	if err != nil {
		return 0, 0, err
	}
	if st.Size() != size {
		return 0, 0, fmt.Errorf("%s: %d bytes arrived, want %d", cmd.String(), st.Size(), size)
	}
	guestCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return float64(size) / 1e6 / elapsed.Seconds(), guestCPU, nil
}

// writeRandomFile writes size random bytes (incompressible) at path.
func writeRandomFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// limitedBuffer keeps the first 4 KiB written to it (a command's stderr for an error).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
