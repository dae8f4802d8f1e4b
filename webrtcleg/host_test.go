package webrtcleg

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// TestHostListenAddresses: the one UDP port works bound to loopback and to
// every interface (the mux then offers each local address, loopback too).
func TestHostListenAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			h := newTestHost(t, func(c *Config) { c.UDPListen = addr })
			c, s := connect(t, ctx, h, webrtctest.Options{})
			if err := c.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			pkts, _ := webrtctest.EncodeOpus(tone440(3*dsp.FrameSamples), 24000)
			if err := c.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
				t.Fatal(err)
			}
			if p := waitProgress(t, s, 5*time.Second); p.Kind != sip.ProgressAnswered {
				t.Fatalf("progress %v", p.Kind)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{UDPListen: "127.0.0.1:8443"}, ""},
		{Config{UDPListen: ":8443"}, ""},
		{Config{UDPListen: "[::1]:8443", PublicIPs: []string{"203.0.113.7"}}, ""},
		{Config{UDPListen: "8443"}, "webrtc_udp"},
		{Config{UDPListen: "localhost:8443"}, "IP address"},
		{Config{UDPListen: ":8443", PublicIPs: []string{"example.com"}}, "webrtc_public_ips"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want ErrInvalidConfig naming %q", tc.cfg, err, tc.want)
		}
	}
}

// TestHostClose: closing the host ends live sessions (their readers
// return), frees the port, and refuses new offers.
func TestHostClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := NewHost(Config{UDPListen: "127.0.0.1:0", Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	offer, err := c.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, answer, err := h.Accept(ctx, offer, SessionOptions{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Answer(answer); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr().String()
	if err := h.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	var pcm [dsp.FrameSamples]int16
	if err := s.ReadFrame(pcm[:], time.Now().Add(time.Second)); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadFrame after host close: %v, want ErrClosed", err)
	}
	if _, _, err := h.Accept(ctx, offer, SessionOptions{ID: "y"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after close: %v, want ErrClosed", err)
	}
	h2, err := NewHost(Config{UDPListen: addr})
	if err != nil {
		t.Fatalf("port not freed: %v", err)
	}
	_ = h2.Close()
}
