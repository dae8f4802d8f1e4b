package dsp_test

import (
	"math"
	"testing"

	"github.com/amd-engine/amd/dsp"
)

// tsWithHum adds mains hum (60 Hz and its harmonics to 300 Hz, as a ground
// loop puts on a line) at rms over lead+tone+tail and splits them again.
func tsWithHum(lead, tone, tail []float64, rms float64) ([]float64, []float64, []float64) {
	x := tsConcat(lead, tone, tail)
	amps := []float64{1, 0.7, 0.5, 0.35, 0.25}
	var norm float64
	for _, a := range amps {
		norm += a * a / 2
	}
	g := rms / math.Sqrt(norm)
	for i := range x {
		ts := float64(i) / dsp.SampleRate
		for h, a := range amps {
			x[i] += g * a * math.Sin(2*math.Pi*60*float64(h+1)*ts+float64(h))
		}
	}
	a, b := len(lead), len(lead)+len(tone)
	return x[:a], x[a:b], x[b:]
}

// TestToneUnderLowFrequencyNoise: brown noise, rumble and mains hum sit
// below the tones we look for but, even well under them, decide where the
// signal crosses zero, so the crossing pre-test alone would never let such
// a frame reach the FFT; its second look through the frame's first
// difference does. A tone from 1 kHz up is then judged for purity against
// its own part of the band, not against the hum below 250 Hz, and a SIT's
// first segment is admitted at SIT's own frequencies on the relaxed terms
// its later segments get. (Broadband SNRs of 2 dB: brown noise's power is
// almost all below 300 Hz.)
func TestToneUnderLowFrequencyNoise(t *testing.T) {
	t.Parallel()
	const level = -24.0
	humRMS := tsAmp(level-6) / math.Sqrt2
	cases := []struct {
		c   tsBeepCase
		hum bool
	}{
		{c: tsBeepCase{name: "SIT-brown-2dB", tone: tsSIT(985.2, 1370.6, 1776.7, 380, 274, 380, level), dbfs: level, noise: tsBrownNoise, snr: 2,
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 380 + 274 + 200}},
		{c: tsBeepCase{name: "SIT-brown-2dB-ulaw", tone: tsSIT(913.8, 1428.5, 1776.7, 274, 380, 380, level), dbfs: level, noise: tsBrownNoise, snr: 2, codec: tsMulawCodec,
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 380 + 200}},
		{c: tsBeepCase{name: "beep-1400-brown-2dB", tone: tsSine(1400, level, 400), dbfs: level, noise: tsBrownNoise, snr: 2,
			want: dsp.ToneBeep, fLo: 1390, fHi: 1410, maxLatency: 150}},
		{c: tsBeepCase{name: "beep-1200-hum", tone: tsSine(1200, level, 400), want: dsp.ToneBeep, fLo: 1190, fHi: 1210, maxLatency: 150}, hum: true},
		{c: tsBeepCase{name: "SIT-hum", tone: tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, level),
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 274 + 200}, hum: true},
	}
	for _, tc := range cases {
		c := tc.c
		c.lead, c.tail = tsSilence(500), tsSilence(1000)
		if tc.hum {
			c.lead, c.tone, c.tail = tsWithHum(c.lead, c.tone, c.tail, humRMS)
		}
		t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
	}
	// Alone, a first-segment tone under that hum is at most a beep, never
	// a SIT.
	t.Run("SIT-first-segment-alone-hum", func(t *testing.T) {
		lead, tone, tail := tsWithHum(tsSilence(500), tsSine(913.8, level, 274), tsSilence(1500), humRMS)
		events, _ := tsRun(dsp.NewToneDetector(), tsToInt16(tsConcat(lead, tone, tail)))
		for _, d := range tsDetections(events) {
			if d.Detected != dsp.ToneBeep || d.FreqHz < 905 || d.FreqHz > 925 {
				t.Errorf("detected %+v, want nothing or a 914 Hz beep", d)
			}
		}
	})
}

// TestToneInBroadbandNoise: a beep 8 dB above white or pink line noise
// keeps only ~0.85 of the band in its peak, short of a clean beep's purity;
// the rest is featureless, which is what lets it count as pure. A SIT that
// far above white noise fails the pre-test's predictor bound, which SIT's
// own frequencies relax.
func TestToneInBroadbandNoise(t *testing.T) {
	t.Parallel()
	for _, c := range []tsBeepCase{
		{name: "beep-1800-white-8dB", tone: tsSine(1800, -20, 400), dbfs: -20, noise: tsWhiteNoise, snr: 8, want: dsp.ToneBeep, fLo: 1790, fHi: 1810, maxLatency: 150},
		{name: "beep-1600-white-8dB-ulaw", tone: tsSine(1600, -20, 400), dbfs: -20, noise: tsWhiteNoise, snr: 8, codec: tsMulawCodec, want: dsp.ToneBeep, fLo: 1590, fHi: 1610, maxLatency: 150},
		{name: "beep-2200-pink-8dB", tone: tsSine(2200, -20, 400), dbfs: -20, noise: tsPinkNoise, snr: 8, want: dsp.ToneBeep, fLo: 2190, fHi: 2210, maxLatency: 150},
		// SIT at its usual low level: the pre-test's allowance at SIT's own
		// frequencies.
		{name: "SIT-low-short-white-10dB", tone: tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, -24), dbfs: -24, noise: tsWhiteNoise, snr: 10,
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 274 + 200},
		{name: "SIT-high-white-10dB", tone: tsSIT(985.2, 1428.5, 1776.7, 380, 380, 380, -24), dbfs: -24, noise: tsWhiteNoise, snr: 10,
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 380 + 380 + 200},
		{name: "SIT-mixed-white-10dB-ulaw", tone: tsSIT(913.8, 1428.5, 1776.7, 274, 380, 380, -24), dbfs: -24, noise: tsWhiteNoise, snr: 10, codec: tsMulawCodec,
			want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 380 + 200},
	} {
		c.lead, c.tail = tsSilence(500), tsSilence(1000)
		t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
	}
}
