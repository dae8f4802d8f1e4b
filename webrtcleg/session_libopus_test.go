//go:build libopus

package webrtcleg

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// minSessionSNR is dsp's acceptance point for the pure-Go decoder against
// libopus (opusMinDifferentialSNR): 60 dB on a lossless stream.
const minSessionSNR = 60.0

// TestWebRTCSessionDifferentialLibopus holds what the WebRTC leg hands the
// detector (gopus, through pion, SRTP, the receiver's framing) to libopus
// decoding the very packets the publisher sent: a corpus greeting as
// 20 ms Opus, no loss.
func TestWebRTCSessionDifferentialLibopus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	var clip *fixtures.Clip
	for i := range clips {
		if clips[i].Category == "voicemail_beep" && clips[i].Noise == "none" {
			clip = &clips[i]
			break
		}
	}
	if clip == nil {
		t.Fatal("no clean voicemail_beep clip")
	}
	audio, err := audiofile.Load(fixtures.ClipPath(*clip))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := webrtctest.EncodeOpus(audio.Samples, 16000)
	if err != nil {
		t.Fatal(err)
	}

	h := newTestHost(t, func(c *Config) { c.FrameQueue = len(pkts) + 1 })
	c, s := connect(t, ctx, h, webrtctest.Options{})
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, pkts, 2*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]int16, 0, len(pkts)*dsp.FrameSamples)
	var pcm [dsp.FrameSamples]int16
	for i := range pkts {
		if err := s.ReadFrame(pcm[:], time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("frame %d of %d: %v (stats %+v)", i, len(pkts), err, s.Stats())
		}
		got = append(got, pcm[:]...)
	}
	if st := s.Stats(); st.Lost != 0 || st.Concealed != 0 {
		t.Fatalf("loopback lost packets (%+v): the comparison needs a lossless stream", st)
	}

	ref, err := dsp.NewLibopusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int16, 0, len(got))
	buf := make([]int16, dsp.OpusMaxPacketSamples)
	for i, p := range pkts {
		n, err := ref.Decode(p, buf)
		if err != nil {
			t.Fatalf("libopus packet %d: %v", i, err)
		}
		want = append(want, buf[:n]...)
	}
	if len(want) != len(got) {
		t.Fatalf("libopus %d samples, session %d", len(want), len(got))
	}
	var sig, noise float64
	diff := 0
	for i := range want {
		d := float64(want[i]) - float64(got[i])
		sig += float64(want[i]) * float64(want[i])
		noise += d * d
		if d != 0 {
			diff++
		}
	}
	snr := math.Inf(1)
	if noise > 0 {
		snr = 10 * math.Log10(sig/noise)
	}
	t.Logf("%s: %d packets, %d of %d samples differ, SNR %.1f dB", clip.File, len(pkts), diff, len(want), snr)
	if snr < minSessionSNR {
		t.Errorf("session output vs libopus: %.1f dB, want ≥ %.0f dB", snr, minSessionSNR)
	}
}
