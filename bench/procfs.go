package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of the CPU times in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTicks = 100

// cpuTime returns the user plus system CPU time the process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a /proc/PID/stat line; the command
// name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat: %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat: %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 and 15: utime, stime
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rssBytes returns the process's resident set size.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	return parseStatusRSS(string(b))
}

// parseStatusRSS reads VmRSS (in kB) from /proc/PID/status.
func parseStatusRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed VmRSS line %q: %w", line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc status")
}

// cpuMeter measures the CPU time a clock (a process, a process tree, the machine) counts between
// its start and perOp.
type cpuMeter struct {
	read     func() (time.Duration, error)
	start    time.Duration
	startErr error
}

// startMeter starts a cpuMeter on read.
func startMeter(read func() (time.Duration, error)) *cpuMeter {
	t, err := read()
	return &cpuMeter{read: read, start: t, startErr: err}
}

// startCPU measures the process pid.
func startCPU(pid int) *cpuMeter {
	return startMeter(func() (time.Duration, error) { return cpuTime(pid) })
}

// startTreeCPU measures the process pid and all its descendants (treeCPU).
func startTreeCPU(pid int) *cpuMeter {
	return startMeter(func() (time.Duration, error) { return treeCPU(pid) })
}

// startMachineCPU measures the machine's busy time (machineCPU.busy).
func startMachineCPU() *cpuMeter {
	return startMeter(func() (time.Duration, error) {
		m, err := readMachineCPU()
		return m.busyTime(), err
	})
}

// perOp returns the CPU time spent since start divided by ops.
func (m *cpuMeter) perOp(ops int64) (time.Duration, error) {
	if m.startErr != nil {
		return 0, m.startErr
	}
	t, err := m.read()
	if err != nil {
		return 0, err
	}
	if ops <= 0 {
		return 0, fmt.Errorf("no operations to divide CPU time by")
	}
	return (t - m.start) / time.Duration(ops), nil
}

// makeProfileDir creates the directory -profile names, if any, before a run that would
// otherwise measure for minutes and then fail to save what it profiled.
func makeProfileDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile directory: %w", err)
	}
	return nil
}

// fetchProfile saves a CPU profile of d from a pprof endpoint (addr "" does nothing).
func fetchProfile(addr, path string, d time.Duration) error {
	if addr == "" {
		return nil
	}
	return fetchURLWithin(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), path, d+30*time.Second)
}

// fetchTrace saves a runtime trace of d from a pprof endpoint.
func fetchTrace(addr, path string, d time.Duration) error {
	return fetchURLWithin(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%d", addr, max(1, int(d.Seconds()))), path, d+30*time.Second)
}

// fetchURL saves what url answers (a runtime profile) at path.
func fetchURL(url, path string) error { return fetchURLWithin(url, path, 30*time.Second) }

func fetchURLWithin(url, path string, timeout time.Duration) error {
	resp, err := (&http.Client{Timeout: timeout}).Get(url)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}

// loadAverage returns the machine's load average over the last minute (/proc/loadavg).
func loadAverage() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	return parseLoadAvg(string(b))
}

// parseLoadAvg reads the first field of a /proc/loadavg line.
func parseLoadAvg(line string) (float64, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, fmt.Errorf("load average: empty %q", line)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	return v, nil
}

// machineCPU is the machine's CPU time so far, in /proc/stat's ticks: all of it, the part its
// processes and kernel ran (busy: user, nice, system, irq, softirq), the part it sat idle while a
// process waited for the disk (iowait), and the part the hypervisor ran other guests on (steal)
// while this one wanted it.
type machineCPU struct{ total, busy, iowait, steal uint64 }

// readMachineCPU reads the machine's CPU time from /proc/stat.
func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, fmt.Errorf("machine cpu: %w", err)
	}
	return parseMachineCPU(string(b))
}

// parseMachineCPU reads the "cpu" line of /proc/stat: user, nice, system, idle, iowait, irq,
// softirq and steal ticks (guest time is counted in user already).
func parseMachineCPU(stat string) (machineCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("machine cpu: no cpu line with steal time in %q", line)
	}
	var m machineCPU
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("machine cpu: field %d: %w", i+1, err)
		}
		m.total += v
		switch i {
		case 0, 1, 2, 5, 6:
			m.busy += v
		case 4:
			m.iowait = v
		case 7:
			m.steal = v
		}
	}
	return m, nil
}

// machineShares is how the machine's CPU time was spent over a span, in percent of it.
type machineShares struct{ busy, iowait, steal float64 }

// machineDuring runs f and returns how the machine's CPU time was spent meanwhile; false where
// /proc/stat cannot tell it.
func machineDuring(f func()) (machineShares, bool) {
	before, errBefore := readMachineCPU()
	f()
	after, errAfter := readMachineCPU()
	if errBefore != nil || errAfter != nil {
		return machineShares{}, false
	}
	return before.sharesUntil(after), true
}

// busyTime is the CPU time the machine's processes and kernel have run (busy).
func (m machineCPU) busyTime() time.Duration {
	return time.Duration(m.busy) * time.Second / clockTicks
}

// sharesUntil is how the machine's CPU time between m and later was spent.
func (m machineCPU) sharesUntil(later machineCPU) machineShares {
	if later.total <= m.total {
		return machineShares{}
	}
	all := float64(later.total - m.total)
	share := func(a, b uint64) float64 { return 100 * float64(b-a) / all }
	return machineShares{busy: share(m.busy, later.busy), iowait: share(m.iowait, later.iowait), steal: share(m.steal, later.steal)}
}
