package sip

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/rs/zerolog"
)

// mediaSessionBudget is the heap one G.711 call's MediaSession may hold
// once its media flows (issue 6: ≤ 64 KiB resident per call in all, of
// which the detector, the SIP dialog and the goroutine stacks take most).
const mediaSessionBudget = 12 << 10

// answeredCallBudget is the heap one answered G.711 call may hold in this
// package and sipgo together: its MediaSession, the dialog with the INVITE
// and the 200 it keeps, the UA's bookkeeping and the call's loggers.
const answeredCallBudget = 22 << 10

// sessionHeap builds n media sessions, plays each the traffic feed sends,
// and returns the heap they hold per session, in bytes. Sockets are opened
// before the first reading: a socket's Go objects are the same whatever
// the session does with it, and its kernel buffers are not heap (nor RSS).
func sessionHeap(tb testing.TB, n int, feed func(tb testing.TB, m *MediaSession)) float64 {
	tb.Helper()
	conns := make([]*net.UDPConn, n)
	for i := range conns {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			tb.Fatal(err)
		}
		conns[i] = c
	}
	sessions := make([]*MediaSession, n)
	defer func() {
		for i, c := range conns {
			if sessions[i] != nil {
				sessions[i].Close()
			} else {
				c.Close()
			}
		}
	}()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i, c := range conns {
		sessions[i] = NewMediaSession(c, MediaOptions{})
		feed(tb, sessions[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(sessions)
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n)
}

// feedG711 is one second of 20 ms μ-law with what live calls do to it: a
// swapped pair, a lost packet and a 40 ms packet, so anything a session
// allocates on first reorder, loss or larger packet is counted.
func feedG711(tb testing.TB, m *MediaSession) {
	frame := make([]int16, dsp.FrameSamples)
	now := time.Now()
	order := []int{0, 1, 3, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	ts := 0
	for _, seq := range order {
		n := 160
		if seq == 10 {
			n = 320
		}
		m.handleDatagram(rtpBytes(tb, 7, uint16(seq), uint32(seq*160), PayloadPCMU, mulawRamp(ts, n)), peerA, now)
		ts += n
		for m.emit(false) {
			for m.wr-m.rd >= dsp.FrameSamples {
				m.popFrame(frame)
			}
		}
	}
	for m.rb.held > 0 {
		m.emit(true)
		for m.wr-m.rd >= dsp.FrameSamples {
			m.popFrame(frame)
		}
	}
	if st := m.Stats(); st.Packets != uint64(len(order)) || st.Lost != 1 || st.Reordered == 0 {
		tb.Fatalf("feed did not play as planned: %+v", st)
	}
}

// TestMediaSessionMemoryBudget fails when a G.711 session holds more heap
// than its share of the per-call budget.
func TestMediaSessionMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 64 sockets and reads the whole heap")
	}
	// Not parallel: other tests' allocations would land in the delta.
	got := sessionHeap(t, 64, feedG711)
	t.Logf("G.711 media session: %.0f B heap per call (budget %d)", got, mediaSessionBudget)
	if got > mediaSessionBudget {
		t.Errorf("G.711 media session holds %.0f B per call, budget %d B", got, mediaSessionBudget)
	}
	if got <= 0 {
		t.Errorf("measured %.0f B per session: the measurement saw nothing", got)
	}
}

// BenchmarkMediaSessionMemory reports the heap per call of a session that
// has played G.711 (B/call); the socket's own objects are not included.
func BenchmarkMediaSessionMemory(b *testing.B) {
	const n = 64
	var total float64
	for b.Loop() {
		total += sessionHeap(b, n, feedG711)
	}
	b.ReportMetric(total/float64(b.N), "B/call")
}

// TestAnsweredCallMemory places calls to SIPp (another process, so only
// the caller's side is counted), lets RTP flow into each and measures
// what the answered calls hold: heap per call against answeredCallBudget,
// and goroutines, of which an answered call must have none of its own.
func TestAnsweredCallMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("places 40 calls to SIPp")
	}
	// Not parallel: other tests' allocations would land in the delta.
	const n = 40
	sp := startSIPpCalls(t, "uas_answer_wait_bye.xml", "", n)
	lo, hi := freePortRange(t, n+4)
	u, err := NewUA(Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: lo, RTPPortMax: hi,
		PortDrain: 100 * time.Millisecond, MediaTimeout: 10 * time.Second},
		zerolog.New(io.Discard).Level(zerolog.InfoLevel)) // a production logger: per-call contexts are real
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()

	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	calls := make([]*OutboundCall, n)
	for i := range calls {
		c, err := u.Dial(context.Background(), DialRequest{CallID: fmt.Sprintf("mem-%d", i),
			Target: fmt.Sprintf("sip:tones@%s", sp.addr), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
	}
	for _, c := range calls {
		waitFor(t, c, ProgressAnswered, 15*time.Second)
	}
	for i, c := range calls {
		if pcm := readAudio(t, c.Media(), 500*time.Millisecond, 5*time.Second); len(pcm) < 4000 {
			t.Fatalf("call %d: only %d samples of audio", i, len(pcm))
		}
	}
	// The signalling goroutines return right after the answer; give the
	// last ones a moment to do so.
	g1 := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if g1 = runtime.NumGoroutine(); g1 <= g0 {
			break
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perCall := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	t.Logf("answered G.711 call: %.0f B heap per call (budget %d), %+d goroutines for %d calls", perCall, answeredCallBudget, g1-g0, n)
	if perCall > answeredCallBudget {
		t.Errorf("an answered call holds %.0f B of heap, budget %d B", perCall, answeredCallBudget)
	}
	if perCall < mediaSessionBudget/4 {
		t.Errorf("measured %.0f B per call: less than a media session, so the measurement missed the calls", perCall)
	}
	// A goroutine is at least 2 KiB of stack, usually 8: answered calls
	// wait for their end without one.
	if g1-g0 > 1 {
		t.Errorf("%d goroutines for %d answered calls, want none per call", g1-g0, n)
	}
	for _, c := range calls {
		c.Close()
		if st := c.Media().Stats(); st.Lost != 0 || st.Strangers != 0 {
			t.Errorf("media stats %+v", st)
		}
	}
	runtime.KeepAlive(calls)
	if err := sp.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}
