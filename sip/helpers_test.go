package sip

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/amd-engine/amd/internal/sipptest"
)

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
	addr netip.AddrPort
	proc *sipptest.Proc
	once sync.Once
	err  error
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
	p := sipptest.Start(t, sipptest.Options{Scenario: filepath.Join("testdata", "sipp", scenario), Dir: "testdata",
		Remote: remote, Calls: calls, Timeout: 40 * time.Second})
	return &sippProc{addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p.Port)), proc: p}
}

// wait returns nil when SIPp ran its scenario to the end successfully.
func (p *sippProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	p.once.Do(func() { p.err = p.proc.Wait(d) })
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
