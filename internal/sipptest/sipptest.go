// Package sipptest runs SIPp (Debian's sip-tester) as a real SIP peer for
// loopback tests: one process per test, a scenario from the calling
// package's testdata, its ports chosen free, and its start confirmed by the
// kernel's socket table rather than by a sleep — under a loaded machine
// SIPp can take longer than any fixed pause to bind, and a port picked free
// can be taken by another test before SIPp binds it, so a start that fails
// is retried on new ports. Tests only.
package sipptest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/analysis"
	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// Options describe one SIPp run.
type Options struct {
	// Scenario is the scenario file's path (relative to the test's
	// package directory, or absolute).
	Scenario string
	// Vars replace @KEY@ placeholders in the scenario; with any, SIPp runs
	// a copy written to a temporary directory.
	Vars map[string]string
	// Dir is SIPp's working directory, where a scenario's relative paths
	// (pcap files) resolve; default: the scenario's own directory.
	Dir string
	// Remote, when set, makes SIPp the caller (UAC) of this address, as
	// user "amd".
	Remote string
	// Calls is SIPp's -m (default 1).
	Calls int
	// Timeout is SIPp's own -timeout, after which it fails (default 60 s).
	Timeout time.Duration
}

// Proc is a running SIPp.
type Proc struct {
	// Port is SIPp's SIP port on 127.0.0.1.
	Port int

	cmd     *exec.Cmd
	out     syncBuffer
	errFile string
	exited  chan struct{}
	waitErr error
}

// startAttempts bounds the retries of a start that failed on its ports.
const startAttempts = 3

// Start runs SIPp and returns once it listens; the test fails if it
// cannot. SIPp is killed, and its output logged if the test failed, at
// cleanup. Without sipp installed the test is skipped.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (make deps installs sip-tester)")
	}
	scenario, dir := o.Scenario, o.Dir
	if dir == "" {
		dir = filepath.Dir(scenario)
	}
	if len(o.Vars) > 0 {
		scenario = writeScenario(t, o.Scenario, o.Vars)
	}
	if scenario, err = filepath.Abs(scenario); err != nil {
		t.Fatal(err)
	}
	var tries []string
	for attempt := 0; attempt < startAttempts; attempt++ {
		p, err := start(t, bin, scenario, dir, o)
		if err == nil {
			return p
		}
		tries = append(tries, err.Error())
	}
	t.Fatalf("sipp did not start:\n%s", strings.Join(tries, "\n"))
	return nil
}

func start(t testing.TB, bin, scenario, dir string, o Options) (*Proc, error) {
	calls := max(o.Calls, 1)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	p := &Proc{Port: FreeUDPPort(t), exited: make(chan struct{}), errFile: filepath.Join(t.TempDir(), "errors.log")}
	args := []string{"-sf", scenario, "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(p.Port), "-mp", strconv.Itoa(FreeUDPPort(t) &^ 1), "-m", strconv.Itoa(calls),
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout/time.Second)), "-timeout_error",
		"-trace_err", "-error_file", p.errFile}
	if o.Remote != "" {
		args = append(args, "-s", "amd", o.Remote)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.awaitListening(10 * time.Second); err != nil {
		p.kill()
		return nil, fmt.Errorf("sipp on port %d: %w; output: %s", p.Port, err, tail(p.out.String(), 500))
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.errFile)
			t.Logf("sipp %s output:\n%s\nerrors:\n%s", filepath.Base(scenario), tail(p.out.String(), 2000), tail(string(b), 3000))
		}
	})
	return p, nil
}

// awaitListening waits until SIPp's UDP port shows in the kernel's socket
// table, or SIPp exits (a port taken meanwhile), or d passes.
func (p *Proc) awaitListening(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start (%v)", p.waitErr)
		default:
		}
		bound, err := udpBound(p.Port)
		if err != nil {
			// No /proc (not Linux): the fixed pause is the best we have.
			time.Sleep(300 * time.Millisecond)
			return nil
		}
		if bound {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("not listening in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// udpBound reports whether a UDP socket is bound to 127.0.0.1:port, from
// /proc/net/udp (local_address is 0100007F:PPPP in hex).
func udpBound(port int) (bool, error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 1 && fields[1] == want {
			return true, nil
		}
	}
	return false, sc.Err()
}

// Wait returns SIPp's exit error (nil when its scenario ran to the end), or
// an error when it has not finished within d (SIPp is then killed).
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(d):
		p.kill()
		return errors.Join(errors.New("sipp did not finish in time"), p.waitErr)
	}
}

// Output returns what SIPp printed so far, and the tail of its error file.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.errFile)
	return p.out.String() + "\nerrors:\n" + tail(string(b), 3000)
}

func (p *Proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// writeScenario copies the scenario with its placeholders replaced.
func writeScenario(t testing.TB, path string, vars map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for k, v := range vars {
		text = strings.ReplaceAll(text, "@"+k+"@", v)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer SIPp's output goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CorpusClip picks a committed μ-law clip of the fixtures with the given
// label (and filter) whose offline decision — the same engine fed the same
// samples — is want, converts it to the 8 kHz μ-law WAV SIPp plays, and
// returns its path and the clip. An e2e test then shows the live path (SIP,
// RTP, jitter handling, decode, owner loop) reaching what the file reaches.
// Without sox, or without such a clip, the test is skipped.
func CorpusClip(t testing.TB, label string, want engine.EventType, filter func(fixtures.Clip) bool) (string, fixtures.Clip) {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox not installed (make deps installs it)")
	}
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Skipf("corpus: %v", err)
	}
	dir := t.TempDir()
	for _, c := range clips {
		if c.Label != label || c.Channel != fixtures.ChannelULaw || !strings.HasSuffix(c.File, ".wav") || !filter(c) {
			continue
		}
		if _, err := os.Stat(fixtures.ClipPath(c)); err != nil {
			continue // the corpus is being regenerated
		}
		wav := filepath.Join(dir, strings.ReplaceAll(c.File, "/", "_"))
		if out, err := exec.Command("sox", fixtures.ClipPath(c), "-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", wav).CombinedOutput(); err != nil {
			t.Fatalf("sox: %v\n%s", err, out)
		}
		audio, err := audiofile.Load(wav)
		if err != nil {
			t.Fatal(err)
		}
		res, err := analysis.Samples(audio.Samples, engine.Config{}, false)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := res.Decision(); d.Type == want {
			return wav, c
		}
	}
	t.Skipf("no %s clip in the corpus that the engine decides as %s offline", label, want)
	return "", fixtures.Clip{}
}
