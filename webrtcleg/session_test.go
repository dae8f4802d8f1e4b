package webrtcleg

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
	"github.com/rs/zerolog"
)

func testLogger(t *testing.T) zerolog.Logger {
	if os.Getenv("AMD_WEBRTC_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.TraceLevel).With().Timestamp().Str("test", t.Name()).Logger()
}

func newTestHost(t *testing.T, mutate func(*Config)) *Host {
	t.Helper()
	cfg := Config{UDPListen: "127.0.0.1:0", ConnectTimeout: 5 * time.Second, MediaTimeout: time.Second, DisconnectTimeout: time.Second, Log: testLogger(t)}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("host close: %v", err)
		}
	})
	return h
}

// connect runs offer/answer between a test publisher and the host.
func connect(t *testing.T, ctx context.Context, h *Host, opts webrtctest.Options) (*webrtctest.Client, *Session) {
	t.Helper()
	c, err := webrtctest.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	offer, err := c.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, answer, err := h.Accept(ctx, offer, SessionOptions{ID: t.Name()})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := c.Answer(answer); err != nil {
		t.Fatal(err)
	}
	return c, s
}

// tone440 is a test signal: 440 Hz at -12 dBFS, n samples.
func tone440(n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/dsp.SampleRate))
	}
	return pcm
}

func waitProgress(t *testing.T, s *Session, within time.Duration) sip.Progress {
	t.Helper()
	select {
	case p := <-s.Progress():
		return p
	case <-time.After(within):
		t.Fatalf("no progress within %v", within)
		return sip.Progress{}
	}
}

// TestSessionDeliversFrames: 50 Opus packets (1 s) in, the answer on the
// first, then 50 frames of the tone (energy checked, not just a count),
// with the ICE traffic on the host's one UDP port.
func TestSessionDeliversFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := newTestHost(t, nil)
	c, s := connect(t, ctx, h, webrtctest.Options{})
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pkts, err := webrtctest.EncodeOpus(tone440(50*dsp.FrameSamples), 24000)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if p := waitProgress(t, s, 5*time.Second); p.Kind != sip.ProgressAnswered {
		t.Fatalf("first progress %v, want answered", p.Kind)
	}
	var pcm [dsp.FrameSamples]int16
	frames, loud := 0, 0
	for frames < len(pkts) {
		err := s.ReadFrame(pcm[:], time.Now().Add(2*time.Second))
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		frames++
		var e float64
		for _, v := range pcm {
			e += float64(v) * float64(v)
		}
		if math.Sqrt(e/dsp.FrameSamples) > 2000 {
			loud++
		}
	}
	// The codec's start-up (pre-skip, ramp) costs a frame or two.
	if loud < len(pkts)-3 {
		t.Errorf("%d of %d frames carry the tone", loud, len(pkts))
	}
	st := s.Stats()
	if st.Packets != uint64(len(pkts)) || st.Frames != uint64(len(pkts)) || st.Lost != 0 || st.Overruns != 0 {
		t.Errorf("stats %+v, want %d packets and frames, no loss", st, len(pkts))
	}
	// Nothing more: a deadline error, not a failure.
	if err := s.ReadFrame(pcm[:], time.Now().Add(30*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after the last frame: %v, want deadline exceeded", err)
	}
}

// TestSessionLossConcealed: dropped packets become lost counts and
// concealed frames, so the frame clock keeps audio time.
func TestSessionLossConcealed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := newTestHost(t, nil)
	c, s := connect(t, ctx, h, webrtctest.Options{})
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pkts, err := webrtctest.EncodeOpus(tone440(40*dsp.FrameSamples), 24000)
	if err != nil {
		t.Fatal(err)
	}
	skip := map[int]bool{10: true, 20: true, 21: true, 22: true}
	if err := c.Send(ctx, pkts, 5*time.Millisecond, skip); err != nil {
		t.Fatal(err)
	}
	waitProgress(t, s, 5*time.Second)
	var pcm [dsp.FrameSamples]int16
	for i := range pkts {
		if err := s.ReadFrame(pcm[:], time.Now().Add(2*time.Second)); err != nil {
			t.Fatalf("frame %d of %d: %v", i, len(pkts), err)
		}
	}
	st := s.Stats()
	if st.Lost != uint64(len(skip)) || st.Packets != uint64(len(pkts)-len(skip)) || st.Concealed != uint64(len(skip)*dsp.FrameSamples) {
		t.Errorf("stats %+v, want %d lost and concealed", st, len(skip))
	}
}

// TestSessionNoMedia: connected but silent: the session reports the
// answer so the detector can run, then ReadFrame fails with ErrNoMedia,
// which the daemon maps to media_timeout (it wraps sip.ErrMediaTimeout).
func TestSessionNoMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := newTestHost(t, func(c *Config) { c.MediaTimeout = 300 * time.Millisecond })
	c, s := connect(t, ctx, h, webrtctest.Options{})
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if p := waitProgress(t, s, 5*time.Second); p.Kind != sip.ProgressAnswered {
		t.Fatalf("progress %v, want answered", p.Kind)
	}
	var pcm [dsp.FrameSamples]int16
	err := s.ReadFrame(pcm[:], time.Now().Add(time.Second))
	if !errors.Is(err, ErrNoMedia) || !errors.Is(err, sip.ErrMediaTimeout) {
		t.Fatalf("ReadFrame: %v, want ErrNoMedia wrapping sip.ErrMediaTimeout", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("gave up after %v, before the media timeout", el)
	}
}

// TestSessionPeerClose: the publisher closing is the WebRTC BYE.
func TestSessionPeerClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := newTestHost(t, nil)
	c, s := connect(t, ctx, h, webrtctest.Options{})
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pkts, _ := webrtctest.EncodeOpus(tone440(5*dsp.FrameSamples), 24000)
	if err := c.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if p := waitProgress(t, s, 5*time.Second); p.Kind != sip.ProgressAnswered {
		t.Fatalf("progress %v, want answered", p.Kind)
	}
	_ = c.Close()
	for {
		p := waitProgress(t, s, 10*time.Second)
		if p.Kind == sip.ProgressRemoteBye {
			break
		}
		t.Logf("progress %v before the bye", p.Kind)
	}
}

// TestAcceptRefusesOffers: what CheckOffer finds reaches Accept's caller
// with the sentinel, and no session or goroutine is left behind.
func TestAcceptRefusesOffers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := newTestHost(t, nil)
	for _, tc := range []struct {
		name string
		opts webrtctest.Options
		want error
	}{
		{"data channel only", webrtctest.Options{NoAudio: true}, ErrNoAudio},
		{"pcmu only", webrtctest.Options{PCMUOnly: true}, ErrNoOpus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := webrtctest.NewClient(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			offer, err := c.Offer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := h.Accept(ctx, offer, SessionOptions{ID: "x"}); !errors.Is(err, tc.want) {
				t.Fatalf("accept: %v, want %v", err, tc.want)
			}
			if n := h.Sessions(); n != 0 {
				t.Errorf("%d sessions left", n)
			}
		})
	}
}
