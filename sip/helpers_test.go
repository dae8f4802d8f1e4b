package sip

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// freeUDPPort returns a loopback UDP port nobody holds right now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// testLogger writes to the test log only when the test fails (go test -v shows it).
func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// newTestUA starts a UA on loopback with a private RTP range.
func newTestUA(t *testing.T, trunks ...Trunk) *UA {
	t.Helper()
	min, max := freePortRange(t, 8)
	u, err := NewUA(Config{
		ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: min, RTPPortMax: max,
		Trunks: trunks, PortDrain: 100 * time.Millisecond, MediaTimeout: 3 * time.Second,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("ua close: %v", err)
		}
	})
	return u
}

// sippProc is a SIPp run driven by a committed scenario.
type sippProc struct {
	addr    netip.AddrPort
	cmd     *exec.Cmd
	out     bytes.Buffer
	errf    string
	exited  chan struct{} // closed when SIPp has exited; waitErr is set then
	waitErr error
	once    sync.Once
	err     error
}

// startSIPp runs `sipp -sf testdata/sipp/<scenario>` for one call on
// loopback. remote, when set, makes SIPp a UAC calling that address.
func startSIPp(t *testing.T, scenario string, remote string) *sippProc {
	t.Helper()
	return startSIPpCalls(t, scenario, remote, 1)
}

// startSIPpCalls is startSIPp for a scenario SIPp runs calls times (-m).
func startSIPpCalls(t *testing.T, scenario string, remote string, calls int) *sippProc {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (make deps installs sip-tester)")
	}
	port := freeUDPPort(t)
	mport := freeUDPPort(t) &^ 1
	dir := t.TempDir()
	p := &sippProc{addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), exited: make(chan struct{}),
		errf: filepath.Join(dir, "errors.log")}
	args := []string{"-sf", filepath.Join("sipp", scenario), "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(port), "-mp", strconv.Itoa(mport), "-m", strconv.Itoa(calls), "-nostdin",
		"-timeout", "40s", "-timeout_error", "-trace_err", "-error_file", p.errf}
	if remote != "" {
		args = append(args, "-s", "amd", remote)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = "testdata"
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := exec.Command("tail", "-c", "3000", p.errf).Output()
			t.Logf("sipp %s output:\n%s\nerrors:\n%s", scenario, tail(p.out.String(), 2000), b)
		}
	})
	// SIPp binds its port within milliseconds; give it a moment so our
	// INVITE does not go to a closed port and wait for a retransmission.
	time.Sleep(300 * time.Millisecond)
	return p
}

// wait returns nil when SIPp ran its scenario to the end successfully.
func (p *sippProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	p.once.Do(func() {
		select {
		case <-p.exited:
			p.err = p.waitErr
		case <-time.After(d):
			p.cmd.Process.Kill()
			<-p.exited
			p.err = errors.Join(errors.New("sipp did not finish"), p.waitErr)
		}
	})
	return p.err
}

// collect reads progress until the channel closes.
func collect(t *testing.T, c *OutboundCall, d time.Duration) []Progress {
	t.Helper()
	var out []Progress
	deadline := time.After(d)
	for {
		select {
		case p, ok := <-c.Progress():
			if !ok {
				return out
			}
			out = append(out, p)
		case <-deadline:
			t.Fatalf("progress did not end; got %v", kinds(out))
		}
	}
}

func kinds(ps []Progress) []ProgressKind {
	ks := make([]ProgressKind, len(ps))
	for i, p := range ps {
		ks[i] = p.Kind
	}
	return ks
}

// waitFor reads progress until kind arrives.
func waitFor(t *testing.T, c *OutboundCall, kind ProgressKind, d time.Duration) Progress {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case p, ok := <-c.Progress():
			if !ok {
				t.Fatalf("progress closed before %v", kind)
			}
			if p.Kind == kind {
				return p
			}
			if p.Kind.Final() {
				t.Fatalf("got final %v (err %v) waiting for %v", p.Kind, p.Err, kind)
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %v", kind)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
