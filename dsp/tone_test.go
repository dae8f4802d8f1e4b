package dsp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/amd-engine/amd/dsp"
)

// tsNoiseKind names a noise colour (or none) for a case.
type tsNoiseKind int

const (
	tsNoNoise tsNoiseKind = iota
	tsWhiteNoise
	tsPinkNoise
	tsBrownNoise
)

func (n tsNoiseKind) String() string { return [...]string{"clean", "white", "pink", "brown"}[n] }

type tsCodec int

const (
	tsLinear tsCodec = iota
	tsMulawCodec
	tsAlawCodec
	tsOpusLoss // Opus 16 kbit/s with every 10th packet lost
)

func (c tsCodec) String() string { return [...]string{"pcm", "ulaw", "alaw", "opus-loss"}[c] }

// tsRender adds noise at snrDB below a tone of level dbfs, converts and
// passes the result through a codec.
func tsRender(t testing.TB, x []float64, seed uint64, noise tsNoiseKind, dbfs, snrDB float64, codec tsCodec) []int16 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	if noise != tsNoNoise {
		rms := tsAmp(dbfs) / math.Sqrt2 * math.Pow(10, -snrDB/20)
		var nz []float64
		switch noise {
		case tsWhiteNoise:
			nz = tsWhite(rng, len(x))
		case tsPinkNoise:
			nz = tsPink(rng, len(x))
		case tsBrownNoise:
			nz = tsBrown(rng, len(x))
		}
		x = tsAddNoise(x, nz, rms)
	}
	pcm := tsToInt16(x)
	switch codec {
	case tsMulawCodec:
		pcm = tsMulaw(pcm)
	case tsAlawCodec:
		pcm = tsAlaw(pcm)
	case tsOpusLoss:
		var err error
		pcm, err = tsOpus(pcm, 16000, 10)
		if err != nil {
			t.Fatalf("opus round trip: %v", err)
		}
	}
	return pcm
}

// tsBeepCase is one tone that must be found.
type tsBeepCase struct {
	name       string
	lead       []float64 // audio before the tone (its length is the true onset)
	tone       []float64
	tail       []float64
	dbfs       float64
	noise      tsNoiseKind
	snr        float64
	codec      tsCodec
	want       dsp.ToneKind
	fLo, fHi   float64 // accepted range of the reported frequency
	maxLatency int64   // ms from true onset to the frame reporting Detected
	count      int     // expected number of detections (0 means 1)
	wantDurMs  int64   // expected duration on Ended (0: not checked)
}

func tsCheckDetection(t *testing.T, c tsBeepCase) {
	t.Helper()
	x := tsConcat(c.lead, c.tone, c.tail)
	pcm := tsRender(t, x, uint64(len(c.name))*7919+uint64(len(x)), c.noise, c.dbfs, c.snr, c.codec)
	onset := int64(len(c.lead)) * 1000 / dsp.SampleRate
	d := dsp.NewToneDetector()
	events, _ := tsRun(d, pcm)
	dets := tsDetections(events)
	want := max(1, c.count)
	if len(dets) != want {
		t.Fatalf("got %d detections %+v, want %d (events %+v)", len(dets), dets, want, events)
	}
	first := dets[0]
	if first.Detected != c.want {
		t.Errorf("detected %v, want %v", first.Detected, c.want)
	}
	if e := first.OnsetMs - onset; e < -30 || e > 30 {
		t.Errorf("onset %d ms, true %d ms (error %d ms > 30)", first.OnsetMs, onset, e)
	}
	if lat := first.AtMs - onset; lat > c.maxLatency || lat < 0 {
		t.Errorf("detected at %d ms, %d ms after onset (max %d)", first.AtMs, lat, c.maxLatency)
	}
	if first.FreqHz < c.fLo || first.FreqHz > c.fHi {
		t.Errorf("frequency %.1f Hz outside [%.1f, %.1f]", first.FreqHz, c.fLo, c.fHi)
	}
	if c.wantDurMs > 0 {
		var ended *tsEvent
		for i := range events {
			if events[i].Ended != dsp.ToneNone {
				ended = &events[i]
				break
			}
		}
		if ended == nil {
			t.Fatalf("no Ended event: %+v", events)
		}
		if ended.Ended != c.want {
			t.Errorf("ended %v, want %v", ended.Ended, c.want)
		}
		if e := ended.DurMs - c.wantDurMs; e < -40 || e > 40 {
			t.Errorf("ended duration %d ms, want %d ±40", ended.DurMs, c.wantDurMs)
		}
	}
}

func tsFreqTol(f float64) (float64, float64) {
	tol := max(10, 0.015*f)
	return f - tol, f + tol
}

// TestToneDetectsBeeps covers the beep grid: frequencies 350–2450 Hz, levels
// −30…−6 dBFS, durations 80 ms–1.5 s, clean and in white/pink/brown noise,
// linear and through G.711 μ-law/A-law.
func TestToneDetectsBeeps(t *testing.T) {
	t.Parallel()
	freqs := []float64{350, 440, 620, 850, 1000, 1400, 1850, 2450}
	levels := []float64{-30, -18, -6}
	durs := []float64{80, 120, 300, 1500}
	noises := []struct {
		kind tsNoiseKind
		snr  float64
	}{{tsNoNoise, 0}, {tsWhiteNoise, 20}, {tsPinkNoise, 15}, {tsBrownNoise, 15}}
	codecs := []tsCodec{tsLinear, tsMulawCodec, tsAlawCodec}
	var cases []tsBeepCase
	i := 0
	for _, f := range freqs {
		for _, lv := range levels {
			for _, nz := range noises {
				dur := durs[i%len(durs)]
				codec := codecs[(i/len(durs))%len(codecs)]
				i++
				lo, hi := tsFreqTol(f)
				cases = append(cases, tsBeepCase{
					name: fmt.Sprintf("%.0fHz/%.0fdBFS/%.0fms/%v%.0f/%v", f, lv, dur, nz.kind, nz.snr, codec),
					lead: tsSilence(700 + float64(i%5)*13), tone: tsSine(f, lv, dur), tail: tsSilence(700),
					dbfs: lv, noise: nz.kind, snr: nz.snr, codec: codec,
					want: dsp.ToneBeep, fLo: lo, fHi: hi, maxLatency: 150, wantDurMs: int64(dur),
				})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
	}
}

// TestToneDetectsBeepKinds covers the shapes real machines use.
func TestToneDetectsBeepKinds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	lo1k, hi1k := tsFreqTol(1000)
	cases := []tsBeepCase{
		{name: "harmonics-800Hz", tone: tsTone(200, -12, []tsPartial{{800, 800, 1}}, 0.3, 0.2), want: dsp.ToneBeep, fLo: 790, fHi: 810, maxLatency: 150, wantDurMs: 200},
		{name: "square-ish-450Hz", tone: tsTone(300, -12, []tsPartial{{450, 450, 1}}, 0, 0.33, 0, 0.2), want: dsp.ToneBeep, fLo: 443, fHi: 457, maxLatency: 150, wantDurMs: 300},
		{name: "harmonics-1200Hz-noise", tone: tsTone(250, -20, []tsPartial{{1200, 1200, 1}}, 0.25), noise: tsWhiteNoise, snr: 18, dbfs: -20, want: dsp.ToneBeep, fLo: 1185, fHi: 1215, maxLatency: 150, wantDurMs: 250},
		{name: "sweep-1500-700", tone: tsTone(400, -15, []tsPartial{{1500, 700, 1}}), want: dsp.ToneBeep, fLo: 700, fHi: 1500, maxLatency: 150, wantDurMs: 400},
		{name: "sweep-2000-1000-fast", tone: tsTone(250, -15, []tsPartial{{2000, 1000, 1}}), want: dsp.ToneBeep, fLo: 1000, fHi: 2000, maxLatency: 150, wantDurMs: 250},
		{name: "sweep-1000-800-slow", tone: tsTone(600, -20, []tsPartial{{1000, 800, 1}}), want: dsp.ToneBeep, fLo: 800, fHi: 1000, maxLatency: 150, wantDurMs: 600},
		{name: "steps-3x60ms", tone: tsSteps([]float64{1400, 1000, 700}, 60, -15), want: dsp.ToneBeep, fLo: 690, fHi: 1410, maxLatency: 150, wantDurMs: 180},
		{name: "steps-2x100ms", tone: tsSteps([]float64{1200, 900}, 100, -15), want: dsp.ToneBeep, fLo: 890, fHi: 1210, maxLatency: 150},
		{name: "double-beep", tone: tsConcat(tsSine(1000, -15, 100), tsSilence(120), tsSine(1000, -15, 100)), want: dsp.ToneBeep, fLo: lo1k, fHi: hi1k, maxLatency: 150, count: 2},
		{name: "long-3s", tone: tsSine(1000, -15, 3000), want: dsp.ToneBeep, fLo: lo1k, fHi: hi1k, maxLatency: 150, wantDurMs: 3000},
		{name: "after-speech", lead: tsConcat(tsSpeechLike(rng, 2500, -15), tsSilence(300)), tone: tsSine(1000, -15, 200), want: dsp.ToneBeep, fLo: lo1k, fHi: hi1k, maxLatency: 150, wantDurMs: 200},
		{name: "after-speech-no-gap", lead: tsSpeechLike(rng, 2500, -15), tone: tsSine(850, -12, 200), want: dsp.ToneBeep, fLo: 840, fHi: 860, maxLatency: 150},
		{name: "quiet-30dBFS-pink15-ulaw", tone: tsSine(1400, -30, 150), noise: tsPinkNoise, snr: 15, dbfs: -30, codec: tsMulawCodec, want: dsp.ToneBeep, fLo: 1380, fHi: 1420, maxLatency: 150, wantDurMs: 150},
		{name: "2100Hz-short-is-beep", tone: tsSine(2100, -15, 200), want: dsp.ToneBeep, fLo: 2080, fHi: 2120, maxLatency: 320, wantDurMs: 200},
		{name: "1100Hz-short-is-beep", tone: tsSine(1100, -15, 200), want: dsp.ToneBeep, fLo: 1085, fHi: 1115, maxLatency: 320, wantDurMs: 200},
		{name: "1100Hz-long-is-beep", tone: tsSine(1100, -15, 1200), want: dsp.ToneBeep, fLo: 1085, fHi: 1115, maxLatency: 700},
		{name: "950Hz-alone-is-beep", tone: tsSine(950, -15, 300), want: dsp.ToneBeep, fLo: 940, fHi: 960, maxLatency: 450, wantDurMs: 300},
		{name: "sit-first-two-only-is-beep", tone: tsConcat(tsSteps([]float64{913.8, 1370.6}, 274, -15)), want: dsp.ToneBeep, fLo: 900, fHi: 930, maxLatency: 750},
	}
	for _, f := range []float64{440, 1000, 1400, 2000} {
		lo, hi := tsFreqTol(f)
		cases = append(cases, tsBeepCase{name: fmt.Sprintf("opus-loss-%.0fHz", f), tone: tsSine(f, -15, 300), codec: tsOpusLoss, want: dsp.ToneBeep, fLo: lo, fHi: hi, maxLatency: 150})
	}
	for _, c := range cases {
		if c.lead == nil {
			c.lead = tsSilence(600)
		}
		c.tail = tsSilence(800)
		t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
	}
}

// TestToneClassifiesFaxAndSIT checks the special tones come out as what they are.
func TestToneClassifiesFaxAndSIT(t *testing.T) {
	t.Parallel()
	cases := []tsBeepCase{
		{name: "CED-plain", tone: tsCED(3000, -12, false), want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450, wantDurMs: 3000},
		{name: "CED-reversals", tone: tsCED(3300, -12, true), want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450},
		{name: "CED-quiet-ulaw-noise", tone: tsCED(2700, -30, true), dbfs: -30, noise: tsWhiteNoise, snr: 18, codec: tsMulawCodec, want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450},
		{name: "CED-2090Hz", tone: tsSine(2090, -12, 2800), want: dsp.ToneFaxCED, fLo: 2080, fHi: 2100, maxLatency: 450},
		{name: "CNG-cadence", tone: tsCadence(500, 3000, 8000, func() []float64 { return tsSine(1100, -15, 500) }), want: dsp.ToneFaxCNG, fLo: 1090, fHi: 1110, maxLatency: 650, count: 3},
		{name: "CNG-alaw-brown", tone: tsCadence(500, 3000, 4000, func() []float64 { return tsSine(1100, -20, 500) }), dbfs: -20, noise: tsBrownNoise, snr: 15, codec: tsAlawCodec, want: dsp.ToneFaxCNG, fLo: 1090, fHi: 1110, maxLatency: 650, count: 2},
		{name: "V21-preamble", tone: tsV21Flags(1000, -12), want: dsp.ToneV21, fLo: 1600, fHi: 1900, maxLatency: 400, wantDurMs: 1000},
		{name: "V21-ulaw-white", tone: tsV21Flags(1000, -20), dbfs: -20, noise: tsWhiteNoise, snr: 20, codec: tsMulawCodec, want: dsp.ToneV21, fLo: 1600, fHi: 1900, maxLatency: 400},
		{name: "SIT-low-short", tone: tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, -15), want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 274 + 200, wantDurMs: 274 + 274 + 380},
		{name: "SIT-high-long", tone: tsSIT(985.2, 1428.5, 1776.7, 380, 380, 380, -15), want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 380 + 380 + 200},
		{name: "SIT-mixed-noise-ulaw", tone: tsSIT(913.8, 1428.5, 1776.7, 274, 380, 380, -24), dbfs: -24, noise: tsPinkNoise, snr: 18, codec: tsMulawCodec, want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 380 + 200},
		{name: "SIT-high-low", tone: tsSIT(985.2, 1370.6, 1776.7, 380, 274, 380, -15), want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 380 + 274 + 200},
	}
	for _, c := range cases {
		c.lead = tsSilence(500)
		c.tail = tsSilence(1000)
		t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
	}
}

// TestToneRejects feeds 10 s of each non-beep signal: nothing may be Detected.
func TestToneRejects(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	const total = 10000
	noise := func(gen func(*rand.Rand, int) []float64, dbfs float64) []float64 {
		return tsAddNoise(tsSilence(total), gen(rng, tsSamples(total)), tsAmp(dbfs)/math.Sqrt2)
	}
	vowel := func(f0, depth float64, formants [3]float64) []float64 {
		var x []float64
		for len(x) < tsSamples(total) {
			x = append(x, tsVowel(rng, f0*(1+0.05*rng.Float64()), 4.5+2*rng.Float64(), depth, 0.004, -12, 2000+rng.Float64()*1000, formants)...)
			x = append(x, tsSilence(300)...)
		}
		return x[:tsSamples(total)]
	}
	oo, ah, ee := [3]float64{300, 870, 2240}, [3]float64{730, 1090, 2440}, [3]float64{270, 2290, 3010}
	cases := []struct {
		name string
		x    []float64
	}{
		{"ringback-US", tsCadence(2000, 4000, total, func() []float64 { return tsDual(440, 480, -13, 2000) })},
		{"ringback-loud", tsCadence(2000, 4000, total, func() []float64 { return tsDual(440, 480, -4, 2000) })},
		{"ringback-UK", tsCadence(1200, 2000, total, func() []float64 {
			return tsConcat(tsDual(400, 450, -13, 400), tsSilence(200), tsDual(400, 450, -13, 400))
		})},
		{"dial-tone", tsDual(350, 440, -13, total)},
		{"busy", tsCadence(500, 500, total, func() []float64 { return tsDual(480, 620, -13, 500) })},
		{"reorder", tsCadence(250, 250, total, func() []float64 { return tsDual(480, 620, -13, 250) })},
		{"DTMF-fast", tsConcat(tsDTMF("0123456789*#ABCD", 80, 80, -10, 2), tsDTMF("5551234", 100, 100, -20, -3), tsSilence(total))[:tsSamples(total)]},
		{"DTMF-long", tsConcat(tsDTMF("1590#", 400, 200, -8, 0), tsDTMF("7", 2000, 100, -15, 4), tsSilence(total))[:tsSamples(total)]},
		{"vowel-oo-110Hz", vowel(110, 0.03, oo)},
		{"vowel-ah-180Hz", vowel(180, 0.025, ah)},
		{"vowel-ee-250Hz", vowel(250, 0.02, ee)},
		{"vowel-oo-320Hz", vowel(320, 0.02, oo)},
		{"vowel-ah-400Hz", vowel(400, 0.02, ah)},
		{"vowel-oo-390Hz", vowel(390, 0.015, oo)},
		{"speech-like", tsSpeechLike(rng, total, -14)},
		{"speech-like-loud", tsSpeechLike(rng, total, -4)},
		{"music", tsMusic(rng, total, -14)},
		{"white-noise", noise(tsWhite, -20)},
		{"pink-noise", noise(tsPink, -20)},
		{"brown-noise", noise(tsBrown, -15)},
		{"silence", tsSilence(total)},
		{"clicks", tsClicks(rng, total, -6)},
	}
	for _, c := range cases {
		for _, codec := range []tsCodec{tsLinear, tsMulawCodec} {
			t.Run(c.name+"/"+codec.String(), func(t *testing.T) {
				pcm := tsRender(t, c.x, 1, tsNoNoise, 0, 0, codec)
				d := dsp.NewToneDetector()
				events, _ := tsRun(d, pcm)
				if dets := tsDetections(events); len(dets) > 0 {
					t.Fatalf("false detections: %+v", dets)
				}
			})
		}
	}
}
