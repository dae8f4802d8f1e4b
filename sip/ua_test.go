package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	amdsip "github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/sip/testphone"
	"github.com/rs/zerolog"
)

func logger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func rtpRange(t *testing.T) (int, int) {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		base := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		if base > 20000 && base < 60000 {
			return base, base + 14
		}
	}
	t.Fatal("no port range")
	return 0, 0
}

func newUA(t *testing.T, mediaTimeout time.Duration) *amdsip.UA {
	t.Helper()
	min, max := rtpRange(t)
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: min, RTPPortMax: max,
		PortDrain: 50 * time.Millisecond, MediaTimeout: mediaTimeout}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return u
}

func newPhone(t *testing.T) *testphone.Phone {
	t.Helper()
	p, err := testphone.New(testphone.Config{ListenAddr: "127.0.0.1:0", Audio: "testdata/tones_ulaw.wav", RingDelay: 50 * time.Millisecond}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func await(t *testing.T, c *amdsip.OutboundCall, want amdsip.ProgressKind) amdsip.Progress {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case p, ok := <-c.Progress():
			if !ok {
				t.Fatalf("progress closed waiting for %v", want)
			}
			if p.Kind == want {
				return p
			}
			if p.Kind.Final() {
				t.Fatalf("got %v (%v) waiting for %v", p.Kind, p.Err, want)
			}
		case <-timeout:
			t.Fatalf("timeout waiting for %v", want)
		}
	}
}

func TestMalformedSIPAndUnknownDialogs(t *testing.T) {
	t.Parallel()
	u := newUA(t, time.Second)
	defer u.Close()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	for _, junk := range []string{
		"\x00\x01garbage",
		"INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n",
		"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n", // stray response
		strings.Repeat("A", 1400),
	} {
		conn.Write([]byte(junk))
	}
	bye := fmt.Sprintf("BYE sip:amd@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-bye1\r\nFrom: <sip:x@127.0.0.1>;tag=a\r\nTo: <sip:amd@127.0.0.1>;tag=b\r\nCall-ID: nosuchcall\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", u.Addr(), local)
	if _, err := conn.Write([]byte(bye)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to stray BYE after garbage: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 481") {
		t.Fatalf("stray BYE answered %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
	if st := u.Stats(); st.UnknownDialog != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	u := newUA(t, time.Second)
	defer u.Close()
	for _, tc := range []struct {
		req amdsip.DialRequest
		err error
	}{
		{amdsip.DialRequest{Target: "+4930123"}, amdsip.ErrUnknownTrunk},
		{amdsip.DialRequest{Target: "nonsense"}, amdsip.ErrBadTarget},
		{amdsip.DialRequest{Target: "sip:a@127.0.0.1", Codecs: []amdsip.Codec{"g729"}}, amdsip.ErrNoCodec},
		{amdsip.DialRequest{Target: "sip:a@127.0.0.1", Headers: map[string]string{"Call-ID": "x"}}, amdsip.ErrInvalidHeader},
		{amdsip.DialRequest{Target: "sip:a@127.0.0.1", Headers: map[string]string{"X-Bad Name": "x"}}, amdsip.ErrInvalidHeader},
		{amdsip.DialRequest{Target: "sip:a@127.0.0.1", Headers: map[string]string{"X-Inject": "a\r\nBYE sip:x SIP/2.0"}}, amdsip.ErrInvalidHeader},
	} {
		if _, err := u.Dial(context.Background(), tc.req); !errors.Is(err, tc.err) {
			t.Errorf("%+v: %v, want %v", tc.req, err, tc.err)
		}
	}
	if st := u.Stats(); st.PortsInUse != 0 || st.ActiveCalls != 0 {
		t.Errorf("failed dials leaked resources: %+v", st)
	}
}

func TestContextCancelSendsCancel(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, time.Second)
	defer u.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := u.Dial(ctx, amdsip.DialRequest{Target: fmt.Sprintf("sip:noanswer@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, c, amdsip.ProgressRinging)
	cancel()
	p := await(t, c, amdsip.ProgressFailed)
	if !errors.Is(p.Err, amdsip.ErrCallerHangup) || p.StatusCode != 487 {
		t.Fatalf("failed with %v / %d", p.Err, p.StatusCode)
	}
}

func TestMediaTimeoutAfterAnswer(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, 300*time.Millisecond)
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s;rtp=none", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, c, amdsip.ProgressAnswered)
	start := time.Now()
	_, err = c.Media().ReadFrame(make([]int16, 160), start.Add(5*time.Second))
	if !errors.Is(err, amdsip.ErrMediaTimeout) {
		t.Fatalf("want ErrMediaTimeout, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	_, err = c.Media().ReadFrame(make([]int16, 160), time.Now().Add(50*time.Millisecond))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("media timeout must persist, got deadline")
	}
}

func TestUACloseHangsUpLiveCalls(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, 5*time.Second)
	answered, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	await(t, answered, amdsip.ProgressAnswered)
	ringing, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:noanswer@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	await(t, ringing, amdsip.ProgressRinging)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if p := await(t, answered, amdsip.ProgressEnded); p.Kind != amdsip.ProgressEnded {
		t.Fatal(p)
	}
	if p := await(t, ringing, amdsip.ProgressFailed); !errors.Is(p.Err, amdsip.ErrCallerHangup) {
		t.Fatalf("ringing call: %v", p.Err)
	}
	if _, err := u.Dial(context.Background(), amdsip.DialRequest{Target: "sip:a@127.0.0.1"}); !errors.Is(err, amdsip.ErrClosed) {
		t.Errorf("dial after close: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var got []string
		for _, r := range ph.Records() {
			got = append(got, r.Outcome)
			if r.Outcome == "answered" && !r.RemoteBye {
				t.Fatalf("phone call not ended by our BYE: %+v", r)
			}
		}
		if len(got) == 2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("phone saw %+v", ph.Records())
}

func TestForgedByeRejected(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, 5*time.Second)
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, c, amdsip.ProgressAnswered)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Right Call-ID, wrong tags: must not end the call.
	bye := fmt.Sprintf("BYE sip:amd@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-forged\r\nFrom: <sip:x@127.0.0.1>;tag=forged\r\nTo: <sip:amd@127.0.0.1>;tag=forged2\r\nCall-ID: %s\r\nCSeq: 99 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		u.Addr(), conn.LocalAddr(), c.SIPCallID())
	if _, err := conn.Write([]byte(bye)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 481") {
		t.Fatalf("forged BYE answered %q (%v)", strings.SplitN(string(buf[:n]), "\r\n", 2)[0], err)
	}
	select {
	case p := <-c.Progress():
		t.Fatalf("call changed state after forged BYE: %v", p.Kind)
	case <-time.After(200 * time.Millisecond):
	}
	// The real callee can still hang up: the call was not disturbed.
	if _, err := c.Media().ReadFrame(make([]int16, 160), time.Now().Add(2*time.Second)); err != nil {
		t.Fatalf("media after forged BYE: %v", err)
	}
}

func TestStrangersAndGarbageOnRTPPort(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, 5*time.Second)
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s", ph.Addr())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, c, amdsip.ProgressAnswered)
	m := c.Media()
	frame := make([]int16, 160)
	// Let the phone's stream latch first.
	if _, err := m.ReadFrame(frame, time.Now().Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	attacker, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	valid := []byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef}
	valid = append(valid, make([]byte, 160)...) // μ-law 0x00 decodes to full scale (-32124)
	for i := range 20 {
		attacker.Write(valid)
		attacker.Write([]byte{0x80, 0x00, byte(i)}) // truncated
		attacker.Write([]byte("not rtp at all"))
	}
	// Keep reading: the call's own audio must keep flowing undisturbed.
	var pcm []int16
	for len(pcm) < 4000 {
		if _, err := m.ReadFrame(frame, time.Now().Add(3*time.Second)); err != nil {
			t.Fatalf("after garbage: %v", err)
		}
		pcm = append(pcm, frame...)
	}
	st := m.Stats()
	if st.Strangers != 20 || st.Malformed != 40 {
		t.Fatalf("strangers %d malformed %d, want 20 and 40", st.Strangers, st.Malformed)
	}
	// The stranger sent full-scale μ-law zeros; none of it may be audible.
	for i, v := range pcm {
		if v > 30000 || v < -30000 {
			t.Fatalf("sample %d = %d: stranger audio leaked", i, v)
		}
	}
}

// TestDialCloseRace dials while the UA shuts down: whatever interleaving,
// no panic, no deadlock, every call ends.
func TestDialCloseRace(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	for i := range 5 {
		u := newUA(t, time.Second)
		var calls []*amdsip.OutboundCall
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 4 {
				c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:noanswer@%s", ph.Addr())})
				if err != nil {
					if !errors.Is(err, amdsip.ErrClosed) && !errors.Is(err, amdsip.ErrTransport) {
						t.Errorf("dial: %v", err)
					}
					return
				}
				calls = append(calls, c)
			}
		}()
		time.Sleep(time.Duration(i*3) * time.Millisecond) // close at different points of the dial loop
		closed := make(chan error, 1)
		go func() { closed <- u.Close() }()
		select {
		case <-closed:
		case <-time.After(40 * time.Second):
			t.Fatal("UA close hung")
		}
		<-done
		for _, c := range calls {
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("call not ended by UA close")
			}
			c.Close()
		}
	}
}

func TestHeadersAndPerCallMediaTimeout(t *testing.T) {
	t.Parallel()
	ph := newPhone(t)
	u := newUA(t, time.Minute)
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s;rtp=none", ph.Addr()),
		Headers: map[string]string{"X-Campaign": "spring-2026", "X-Lead-Id": "42"}, MediaTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	await(t, c, amdsip.ProgressAnswered)
	start := time.Now()
	if _, err := c.Media().ReadFrame(make([]int16, 160), start.Add(10*time.Second)); !errors.Is(err, amdsip.ErrMediaTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("per-call media timeout: %v after %v", err, time.Since(start))
	}
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for len(ph.Records()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	recs := ph.Records()
	if len(recs) != 1 || recs[0].Headers["X-Campaign"] != "spring-2026" || recs[0].Headers["X-Lead-Id"] != "42" {
		t.Fatalf("phone saw %+v", recs)
	}
}

// TestConcurrentCalls runs calls side by side, each read by its own owner
// goroutine as the daemon does: every call must hear its own file.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	const calls = 12
	ph := newPhone(t)
	min, _ := rtpRange(t)
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: min, RTPPortMax: min + 4*calls,
		PortDrain: 50 * time.Millisecond, MediaTimeout: 5 * time.Second}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	errs := make(chan error, calls)
	for i := range calls {
		codec := []string{"pcmu", "pcma", "opus"}[i%3]
		go func() {
			errs <- func() error {
				c, err := u.Dial(context.Background(), amdsip.DialRequest{CallID: fmt.Sprint("c", i), Target: fmt.Sprintf("sip:tones@%s;codec=%s;bye=end", ph.Addr(), codec)})
				if err != nil {
					return err
				}
				defer c.Close()
				frame := make([]int16, 160)
				var pcm []int16
				answered := false
				for {
					select {
					case p, ok := <-c.Progress():
						if !ok || p.Kind == amdsip.ProgressFailed {
							return fmt.Errorf("call %d (%s): progress ended early: %v", i, codec, p.Err)
						}
						if p.Kind == amdsip.ProgressAnswered {
							answered = true
						}
						if p.Kind == amdsip.ProgressRemoteBye {
							// Frames already received are still there to read.
							for {
								if _, err := c.Media().ReadFrame(frame, time.Now().Add(100*time.Millisecond)); err != nil {
									break
								}
								pcm = append(pcm, frame...)
							}
							if !answered || len(pcm) < 9000 {
								return fmt.Errorf("call %d (%s): %d samples before BYE", i, codec, len(pcm))
							}
							return checkToneOrder(pcm)
						}
					default:
					}
					_, err := c.Media().ReadFrame(frame, time.Now().Add(20*time.Millisecond))
					if errors.Is(err, os.ErrDeadlineExceeded) {
						continue
					}
					if err != nil {
						return fmt.Errorf("call %d (%s): %w", i, codec, err)
					}
					pcm = append(pcm, frame...)
				}
			}()
		}()
	}
	timeout := time.After(30 * time.Second)
	for range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			t.Fatal("calls did not finish")
		}
	}
}

// checkToneOrder: 440 Hz must be heard before 1000 Hz.
func checkToneOrder(pcm []int16) error {
	share := func(x []int16, f float64) float64 {
		k := 2 * math.Cos(2*math.Pi*f/8000)
		var s1, s2, e float64
		for _, v := range x {
			s := float64(v) + k*s1 - s2
			s2, s1 = s1, s
			e += float64(v) * float64(v)
		}
		if e == 0 {
			return 0
		}
		return 2 * (s1*s1 + s2*s2 - k*s1*s2) / (float64(len(x)) * e)
	}
	first := func(f float64) int {
		for i := 0; i+800 <= len(pcm); i += 160 {
			if share(pcm[i:i+800], f) > 0.8 {
				return i
			}
		}
		return -1
	}
	a, b := first(440), first(1000)
	if a < 0 || b < 0 || b < a {
		return fmt.Errorf("tones at %d and %d", a, b)
	}
	return nil
}

// BenchmarkCallSetup measures a whole call's signalling on loopback:
// INVITE → 180 → 200 → ACK → BYE → 200 against the test phone, with the
// RTP port allocation and release around it.
func BenchmarkCallSetup(b *testing.B) {
	ph, err := testphone.New(testphone.Config{ListenAddr: "127.0.0.1:0", Audio: "testdata/tones_ulaw.wav", RingDelay: time.Microsecond}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := ph.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer ph.Close()
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: 42000, RTPPortMax: 42998,
		PortDrain: time.Millisecond}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	target := fmt.Sprintf("sip:x@%s;rtp=none", ph.Addr())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: target})
		if err != nil {
			b.Fatal(err)
		}
		for p := range c.Progress() {
			if p.Kind == amdsip.ProgressAnswered {
				c.Hangup(context.Background())
			}
			if p.Kind == amdsip.ProgressFailed {
				b.Fatal(p.Err)
			}
		}
		c.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.StopTimer() // the deferred UA and phone shutdowns are not call setup
	st := time.Now()
	ph.Close()
	if d := time.Since(st); d > time.Second {
		b.Logf("phone close took %v", d)
	}
}

func TestIPv6Call(t *testing.T) {
	t.Parallel()
	ph, err := testphone.New(testphone.Config{ListenAddr: "[::1]:0", Audio: "testdata/tones_ulaw.wav", RingDelay: 10 * time.Millisecond}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.Start(context.Background()); err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ph.Close()
	min, max := rtpRange(t)
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "[::1]:0", MediaIP: "::1", RTPPortMin: min, RTPPortMax: max}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:x@%s", ph.Addr()), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	await(t, c, amdsip.ProgressAnswered)
	frame := make([]int16, 160)
	var pcm []int16
	for len(pcm) < 9600 {
		if _, err := c.Media().ReadFrame(frame, time.Now().Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, frame...)
	}
	if err := checkToneOrder(pcm); err != nil {
		t.Fatal(err)
	}
	if r := c.Media().RemoteAddr(); !r.Addr().Is6() {
		t.Errorf("latched %v", r)
	}
}

// TestAnsweredCallHoldsNoGoroutine: once answered, a call waits for a BYE
// or our hangup without a goroutine of its own (its stack would be held
// for the whole call), and still ends properly both ways.
func TestAnsweredCallHoldsNoGoroutine(t *testing.T) {
	// Not parallel: other tests' calls in setup would be counted.
	ph := newPhone(t)
	u := newUA(t, 5*time.Second)
	defer u.Close()
	callGoroutines := func() int {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "amd/sip.(*OutboundCall).") {
				n++
			}
		}
		return n
	}
	for _, hangup := range []bool{true, false} {
		t.Run(fmt.Sprintf("hangup=%v", hangup), func(t *testing.T) {
			target := fmt.Sprintf("sip:x@%s", ph.Addr())
			if !hangup {
				target = fmt.Sprintf("sip:x@%s;bye-after=600", ph.Addr())
			}
			c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: target})
			if err != nil {
				t.Fatal(err)
			}
			await(t, c, amdsip.ProgressAnswered)
			n := -1
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if n = callGoroutines(); n == 0 {
					break
				}
			}
			if n != 0 {
				t.Fatalf("%d goroutines still run the answered call's code", n)
			}
			want := amdsip.ProgressRemoteBye
			if hangup {
				want = amdsip.ProgressEnded
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := c.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
			}
			await(t, c, want)
			select {
			case _, ok := <-c.Progress():
				if ok {
					t.Fatal("progress after the final step")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("progress not closed after the final step")
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed")
			}
			c.Close()
		})
	}
}
