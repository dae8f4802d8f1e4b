package webrtcleg

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// TestSessionPeerVanishes: after the audio started, the path dies without
// a close: ICE notices within the disconnect timeout and ReadFrame fails
// with ErrICEFailed, which the daemon reports as amd_error (media_error).
func TestSessionPeerVanishes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := newTestHost(t, func(c *Config) { c.DisconnectTimeout = 500 * time.Millisecond })
	proxy, err := webrtctest.NewProxy(h.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	c, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offer, err := c.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The host must not reach the client directly: strip the client's
	// candidates (the host learns the proxy as a peer-reflexive one) and
	// point the client at the proxy instead of the host.
	s, answer, err := h.Accept(ctx, webrtctest.StripCandidates(offer), SessionOptions{ID: "vanish"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := c.Answer(proxy.Redirect(answer)); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pkts, _ := webrtctest.EncodeOpus(tone440(10*dsp.FrameSamples), 24000)
	if err := c.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	if p := waitProgress(t, s, 5*time.Second); p.Kind != sip.ProgressAnswered {
		t.Fatalf("progress %v", p.Kind)
	}
	var pcm [dsp.FrameSamples]int16
	for i := range pkts {
		if err := s.ReadFrame(pcm[:], time.Now().Add(2*time.Second)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	proxy.Cut()
	cutAt := time.Now()
	var rerr error
	for rerr == nil || errors.Is(rerr, errNoFrameYet) {
		if time.Since(cutAt) > 10*time.Second {
			t.Fatal("no failure 10 s after the path died")
		}
		rerr = s.ReadFrame(pcm[:], time.Now().Add(100*time.Millisecond))
	}
	if !errors.Is(rerr, ErrICEFailed) {
		t.Fatalf("ReadFrame after the cut: %v, want ErrICEFailed", rerr)
	}
	t.Logf("failed %v after the cut: %v", time.Since(cutAt).Round(time.Millisecond), rerr)
}

// TestSessionNeverConnects: an answer the client never applies: no ICE,
// so the session fails before any audio with a reason for call.status.
func TestSessionNeverConnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := newTestHost(t, func(c *Config) { c.ConnectTimeout = 300 * time.Millisecond })
	c, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offer, err := c.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := h.Accept(ctx, webrtctest.StripCandidates(offer), SessionOptions{ID: "never"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := waitProgress(t, s, 5*time.Second)
	var f *Failure
	if p.Kind != sip.ProgressFailed || !errors.As(p.Err, &f) || !errors.Is(p.Err, ErrConnectTimeout) || f.ReasonCode() != "ICE Timeout" {
		t.Fatalf("progress %v err %v, want failed with ErrConnectTimeout / ICE Timeout", p.Kind, p.Err)
	}
}
