package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// webrtcClip picks a clean clip of the category: uncompressed or G.711
// channel, no added noise, so the test checks the WebRTC path rather
// than the detector's limits (the corpus report does those).
func webrtcClip(t *testing.T, category string) fixtures.Clip {
	t.Helper()
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	for _, pass := range []func(c fixtures.Clip) bool{
		func(c fixtures.Clip) bool { return c.Channel == "pcm" },
		func(c fixtures.Clip) bool { return c.Channel == "ulaw" || c.Channel == "alaw" },
	} {
		for _, c := range clips {
			if c.Category == category && c.Noise == "none" && pass(c) {
				return c
			}
		}
	}
	t.Fatalf("no clean %s clip in the corpus", category)
	return fixtures.Clip{}
}

func startWebRTCService(t *testing.T) *e2eService {
	t.Helper()
	return startService(t, func(c *ServiceConfig) {
		c.WebRTC = WebRTCConfig{UDPListen: "127.0.0.1:0", ConnectTimeout: 5 * time.Second}
	})
}

// callEvents is what one call told the control channel.
type callEvents struct {
	statuses []*control.CallStatus
	amd      []*control.AMDEvent
}

func (ce *callEvents) has(t engine.EventType) bool {
	for _, e := range ce.amd {
		if e.Event.Type == t {
			return true
		}
	}
	return false
}

func (ce *callEvents) final() *control.CallStatus {
	if n := len(ce.statuses); n > 0 && ce.statuses[n-1].Status.Final() {
		return ce.statuses[n-1]
	}
	return nil
}

func (ce *callEvents) String() string {
	var b strings.Builder
	for _, s := range ce.statuses {
		fmt.Fprintf(&b, "[%s %s %s] ", s.Status, s.EndReason, s.Reason)
	}
	for _, e := range ce.amd {
		fmt.Fprintf(&b, "%s(%s %q) ", e.Event.Type, e.Event.Reason, e.Event.Message)
	}
	return b.String()
}

// collect reads the client's events of callID until stop says so or the
// call's final status arrives. Every message is checked for the leg.
func collect(t *testing.T, ctx context.Context, cli *control.Client, callID string, stop func(*callEvents) bool) *callEvents {
	t.Helper()
	ce := &callEvents{}
	for {
		select {
		case in, ok := <-cli.Events():
			if !ok {
				t.Fatalf("control connection closed; so far: %v", ce)
			}
			if in.CallID != callID {
				continue
			}
			switch {
			case in.Status != nil:
				if in.Status.Leg != call.LegWebRTC {
					t.Errorf("call.status leg %q, want webrtc", in.Status.Leg)
				}
				ce.statuses = append(ce.statuses, in.Status)
			case in.AMD != nil:
				if in.AMD.Leg != call.LegWebRTC {
					t.Errorf("amd.event leg %q, want webrtc", in.AMD.Leg)
				}
				ce.amd = append(ce.amd, in.AMD)
			}
			if ce.final() != nil || stop(ce) {
				return ce
			}
		case <-ctx.Done():
			t.Fatalf("call %s: %v; so far: %v", callID, ctx.Err(), ce)
		}
	}
}

// TestWebRTCOfferOverControl drives the control channel's webrtc.offer
// with a pion publisher sending a corpus clip as Opus (the encoder a
// phone network would use, 20 ms frames, 960 ticks each): the detector's
// verdict, the leg and the call ID must come back as for a SIP call.
func TestWebRTCOfferOverControl(t *testing.T) {
	for _, tc := range []struct {
		category string
		want     []engine.EventType
	}{
		{"voicemail_beep", []engine.EventType{engine.EventMachineDetected, engine.EventToneDetected}},
		{"human_short", []engine.EventType{engine.EventHumanDetected}},
	} {
		t.Run(tc.category, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			clip := webrtcClip(t, tc.category)
			audio, err := audiofile.Load(fixtures.ClipPath(clip))
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := webrtctest.EncodeOpus(audio.Samples, 16000)
			if err != nil {
				t.Fatal(err)
			}
			svc := startWebRTCService(t)
			cli, err := control.Connect(ctx, svc.url, "")
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			pub, err := webrtctest.NewClient(webrtctest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			offer, err := pub.Offer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := "wr-" + tc.category
			ans, err := cli.WebRTCOffer(ctx, control.WebRTCOffer{CallID: id, SDP: offer, MachineDetection: engine.ModeDetect,
				Metadata: map[string]string{"clip": clip.File}})
			if err != nil {
				t.Fatalf("webrtc.offer: %v", err)
			}
			if ans.CallID != id || !strings.HasPrefix(ans.SDP, "v=0") {
				t.Fatalf("answer %q / %.20q", ans.CallID, ans.SDP)
			}
			if err := pub.Answer(ans.SDP); err != nil {
				t.Fatal(err)
			}
			if err := pub.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			// 4× real time: the detector runs on audio time, not the wall clock.
			if err := pub.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
				t.Fatal(err)
			}
			// Wait for the verdict (after a human one the detector goes on
			// listening for a late beep until the callee leaves).
			ce := collect(t, ctx, cli, id, func(ce *callEvents) bool {
				for _, w := range tc.want {
					if !ce.has(w) {
						return ce.has(engine.EventStopped)
					}
				}
				return true
			})
			t.Logf("%s: %v", clip.File, ce)
			for _, w := range tc.want {
				if !ce.has(w) {
					t.Errorf("%s: no %s; got %v", clip.File, w, ce)
				}
			}
			if len(ce.statuses) < 2 || ce.statuses[0].Status != call.StatusTrying || ce.statuses[1].Status != call.StatusAnswered {
				t.Errorf("statuses %v, want trying then answered", ce)
			}
			if ce.statuses[0].Metadata["clip"] != clip.File {
				t.Errorf("metadata %v not carried", ce.statuses[0].Metadata)
			}
			// The publisher leaving is the callee hanging up.
			_ = pub.Close()
			ce2 := collect(t, ctx, cli, id, func(*callEvents) bool { return false })
			fin := ce2.final()
			if fin == nil || fin.Status != call.StatusCompleted || fin.EndReason != call.EndCallerDisconnected {
				t.Errorf("final status %v, want completed / Caller-disconnected", ce2)
			}
		})
	}
}

// TestWebRTCNoMedia: a track that never sends media ends AMD with
// amd_error media_timeout, and the call completes (KoreVG-disconnected).
func TestWebRTCNoMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc := startWebRTCService(t)
	cli, err := control.Connect(ctx, svc.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pub, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	offer, err := pub.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := cli.WebRTCOffer(ctx, control.WebRTCOffer{CallID: "silent", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Answer(ans.SDP); err != nil {
		t.Fatal(err)
	}
	ce := collect(t, ctx, cli, "silent", func(*callEvents) bool { return false })
	var amdErr *control.AMDEvent
	for _, e := range ce.amd {
		if e.Event.Type == engine.EventError {
			amdErr = e
		}
	}
	if amdErr == nil || amdErr.Event.Reason != engine.ReasonMediaTimeout || !strings.Contains(amdErr.Event.Message, "no audio") {
		t.Fatalf("want amd_error media_timeout naming the missing audio; got %v", ce)
	}
	if fin := ce.final(); fin.Status != call.StatusCompleted || fin.EndReason != call.EndEngineDisconnected {
		t.Errorf("final %v, want completed / KoreVG-disconnected", ce)
	}
}

// TestWebRTCOfferRefused: offers the leg cannot answer are refused with
// invalid_field "sdp" and a message naming the problem; nothing is left
// running.
func TestWebRTCOfferRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc := startWebRTCService(t)
	cli, err := control.Connect(ctx, svc.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	offerOf := func(o webrtctest.Options) string {
		c, err := webrtctest.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := c.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name, sdp, want string
	}{
		{"garbage", "v=0\r\nthis is not sdp\r\n", "bad offer"},
		{"no audio", offerOf(webrtctest.Options{NoAudio: true}), "no audio"},
		{"no opus", offerOf(webrtctest.Options{PCMUOnly: true}), "opus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cli.WebRTCOffer(ctx, control.WebRTCOffer{SDP: tc.sdp})
			var ce *control.CommandError
			if !errors.As(err, &ce) || ce.Code != control.CodeInvalidField || ce.Field != "sdp" || !strings.Contains(ce.Message, tc.want) {
				t.Fatalf("got %v, want invalid_field sdp mentioning %q", err, tc.want)
			}
		})
	}
	if n := len(svc.svc.Manager().ActiveCalls()); n != 0 {
		t.Errorf("%d calls left", n)
	}
	if n := svc.svc.WebRTC().Host().Sessions(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

// TestWebRTCPeerVanishes: the publisher's network dies mid-greeting (no
// DTLS close): ICE notices, AMD ends with amd_error media_error naming the
// disconnection, and the call completes KoreVG-disconnected.
func TestWebRTCPeerVanishes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc := startService(t, func(c *ServiceConfig) {
		c.WebRTC = WebRTCConfig{UDPListen: "127.0.0.1:0", ConnectTimeout: 5 * time.Second}
		c.Manager.MediaTimeout = 4 * time.Second // ICE gives up after 2 s
	})
	proxy, err := webrtctest.NewProxy(svc.svc.WebRTC().Host().Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cli, err := control.Connect(ctx, svc.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pub, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	offer, err := pub.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := cli.WebRTCOffer(ctx, control.WebRTCOffer{CallID: "vanish", SDP: webrtctest.StripCandidates(offer)})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Answer(proxy.Redirect(ans.SDP)); err != nil {
		t.Fatal(err)
	}
	if err := pub.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	// One second of a greeting: too little for any verdict.
	audio, err := audiofile.Load(fixtures.ClipPath(webrtcClip(t, "voicemail_beep")))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := webrtctest.EncodeOpus(audio.Samples[:8000], 16000)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(ctx, pkts, 5*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	collect(t, ctx, cli, "vanish", func(ce *callEvents) bool { return len(ce.statuses) >= 2 }) // answered
	proxy.Cut()
	ce := collect(t, ctx, cli, "vanish", func(*callEvents) bool { return false })
	if len(ce.amd) == 0 || ce.amd[0].Event.Type != engine.EventError || ce.amd[0].Event.Reason != engine.ReasonMediaError ||
		!strings.Contains(ce.amd[0].Event.Message, "disconnected") {
		t.Fatalf("want amd_error media_error naming the disconnection first; got %v", ce)
	}
	if fin := ce.final(); fin.Status != call.StatusCompleted || fin.EndReason != call.EndEngineDisconnected {
		t.Errorf("final %v, want completed / KoreVG-disconnected", ce)
	}
}
