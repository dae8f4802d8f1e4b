package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of utime/stime in /proc/<pid>/stat. Linux exports
// USER_HZ = 100 to user space on every architecture Go supports, whatever
// the kernel's internal HZ, so it is a constant rather than a sysconf call
// (which would need cgo).
const userHZ = 100

// procRoot is /proc; tests point it at a fake tree.
var procRoot = "/proc"

// ProcSample is one reading of a process's CPU and memory.
type ProcSample struct {
	At     time.Time
	CPU    time.Duration // user + system since the process started
	RSSKiB int64
}

// ReadProc samples pid's /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	now := time.Now()
	st, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("%w: %w", ErrProc, err)
	}
	ticks, err := parseProcStat(st)
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("%w: %w", ErrProc, err)
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{At: now, CPU: time.Duration(ticks) * time.Second / userHZ, RSSKiB: rss}, nil
}

// parseProcStat returns utime+stime (fields 14 and 15, in USER_HZ ticks)
// of a /proc/<pid>/stat line. The command name (field 2) may hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat: no command name", ErrProc)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat: %d fields after the command name, want ≥ 13", ErrProc, len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: stat: utime %q stime %q", ErrProc, f[11], f[12])
	}
	return u + s, nil
}

// parseVmRSS returns the VmRSS line of /proc/<pid>/status in KiB.
func parseVmRSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: status: VmRSS line %q", ErrProc, line)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%w: status: VmRSS value %q", ErrProc, f[0])
		}
		return v, nil
	}
	return 0, fmt.Errorf("%w: status: no VmRSS line (kernel thread or zombie?)", ErrProc)
}

// FindListenerPID finds the process listening on TCP port (amdd's control
// listener): the listening socket's inode from /proc/net/tcp and tcp6, then
// the process holding a descriptor "socket:[inode]" among /proc/*/fd. Only
// processes the caller may inspect are seen (same user, or root).
func FindListenerPID(port uint16) (int, error) {
	inodes := map[uint64]bool{}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(procRoot, f))
		if err != nil {
			continue // no IPv6, say
		}
		for _, ino := range parseListenInodes(b, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("%w: no listener on tcp port %d", ErrProc, port)
	}
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrProc, err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			s, ok := strings.CutPrefix(l, "socket:[")
			if !ok {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
			if err == nil && inodes[ino] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: listener on tcp port %d belongs to no process we can inspect", ErrProc, port)
}

// parseListenInodes returns the inodes of sockets in state LISTEN (0A) on
// local port in a /proc/net/tcp{,6} table.
func parseListenInodes(b []byte, port uint16) []uint64 {
	var out []uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || uint16(p) != port {
			continue
		}
		if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil && ino != 0 {
			out = append(out, ino)
		}
	}
	return out
}

// engineCounters are the amdd counters a run diffs.
type engineCounters struct {
	rtpPackets, rtpLost, rtpLate, decodeErrors float64
}

// scrapeMetrics reads the engine's Prometheus text exposition.
func scrapeMetrics(ctx context.Context, url string) (engineCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return engineCounters{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	req.Close = true // two scrapes per run: keep no idle connection (and its goroutines) behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return engineCounters{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return engineCounters{}, fmt.Errorf("%w: %s: %s", ErrMetrics, url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return engineCounters{}, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	m, err := parseMetrics(b)
	if err != nil {
		return engineCounters{}, err
	}
	if _, ok := m["amd_rtp_lost_total"]; !ok {
		return engineCounters{}, fmt.Errorf("%w: %s has no amd_rtp_lost_total (not amdd?)", ErrMetrics, url)
	}
	return engineCounters{rtpPackets: m["amd_rtp_packets_total"], rtpLost: m["amd_rtp_lost_total"],
		rtpLate: m["amd_rtp_late_total"], decodeErrors: m["amd_decode_errors_total"]}, nil
}

// parseMetrics sums each metric's samples over its labels from the
// Prometheus text format (comments skipped; timestamps allowed).
func parseMetrics(b []byte) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("%w: line %d: unclosed label set", ErrMetrics, n)
			}
			name, rest = line[:i], line[j+1:]
		} else if i := strings.IndexAny(line, " \t"); i >= 0 {
			name, rest = line[:i], line[i:]
		} else {
			return nil, fmt.Errorf("%w: line %d: no value", ErrMetrics, n)
		}
		f := strings.Fields(rest)
		if name == "" || len(f) == 0 || len(f) > 2 {
			return nil, fmt.Errorf("%w: line %d: want NAME[{labels}] VALUE [TIMESTAMP]", ErrMetrics, n)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: value %q", ErrMetrics, n, f[0])
		}
		out[strings.TrimSpace(name)] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMetrics, err)
	}
	return out, nil
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
