package dsp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
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
	tsOpus8k   // Opus 8 kbit/s, every 20th packet lost
	tsOpus24k  // Opus 24 kbit/s, every 15th packet lost
)

func (c tsCodec) String() string {
	return [...]string{"pcm", "ulaw", "alaw", "opus16k-loss10", "opus8k-loss20", "opus24k-loss15"}[c]
}

// tsOpusLoss returns the bitrate and the loss period (every n-th packet
// lost) of an Opus codec case.
func tsOpusParams(c tsCodec) (rate, lossEvery int) {
	switch c {
	case tsOpusLoss:
		return 16000, 10
	case tsOpus8k:
		return 8000, 20
	case tsOpus24k:
		return 24000, 15
	}
	return 0, 0
}

// tsLostMs is how many ms of packets the codec lost within [from, to) ms.
func tsLostMs(c tsCodec, from, to int64) int64 {
	_, every := tsOpusParams(c)
	if every == 0 {
		return 0
	}
	var lost int64
	for k := max(0, from/dsp.FrameMs); k*dsp.FrameMs < to; k++ {
		if k%int64(every) == int64(every-1) {
			lost += dsp.FrameMs
		}
	}
	return lost
}

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
	case tsOpusLoss, tsOpus8k, tsOpus24k:
		rate, loss := tsOpusParams(codec)
		var err error
		pcm, err = tsOpus(pcm, rate, loss)
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
	tonalMs    int64   // if > 0: frames from onset+100 ms for this long must be ≥ 90 % Tonal
	dc         float64 // DC offset added to the whole signal (int16 units)
}

func tsCheckDetection(t *testing.T, c tsBeepCase) (latencyMs, onsetErrMs int64, ok bool) {
	t.Helper()
	r := tsEvalDetection(t, c)
	for _, p := range r.problems {
		t.Error(p)
	}
	return r.latencyMs, r.onsetErrMs, r.detected
}

// tsOutcome is how one case went.
type tsOutcome struct {
	detected   bool
	latencyMs  int64 // first detection's frame end minus the true onset
	onsetErrMs int64 // reported onset minus the true onset
	problems   []string
}

// tsEvalDetection runs one case and returns what is wrong with the result.
func tsEvalDetection(t *testing.T, c tsBeepCase) (out tsOutcome) {
	t.Helper()
	problems := &out.problems
	fail := func(format string, args ...any) { *problems = append(*problems, fmt.Sprintf(format, args...)) }
	x := tsConcat(c.lead, c.tone, c.tail)
	for i := range x {
		x[i] += c.dc
	}
	pcm := tsRender(t, x, uint64(len(c.name))*7919+uint64(len(x)), c.noise, c.dbfs, c.snr, c.codec)
	onset := int64(len(c.lead)) * 1000 / dsp.SampleRate
	d := dsp.NewToneDetector()
	if _, lossy := tsOpusParams(c.codec); lossy > 0 {
		d.SetLossyCodec(true)
	}
	events, tonal := tsRun(d, pcm)
	dets := tsDetections(events)
	if os.Getenv("TONE_TRACE") != "" {
		// Debug aid: TONE_TRACE=1 go test -run 'TestX/case' -v dumps every hop.
		for _, h := range dsp.ToneTrace(pcm) {
			if h.EndMs >= float64(onset-60) && h.EndMs <= float64(onset+int64(len(c.tone))/8+200) {
				t.Logf("%6.0f pass=%v cv=%.3f lpc=%.3f | class=%d f=%.1f frac=%.3f env=%.2f", h.EndMs, h.Pass, h.PeriodCV, h.LPCError, h.Class, h.FreqHz, h.Frac, h.Env)
			}
		}
	}
	if c.tonalMs > 0 {
		from := int((onset + 100) / dsp.FrameMs)
		to := from + int(c.tonalMs/dsp.FrameMs)
		n := 0
		for _, v := range tonal[from:to] {
			if v {
				n++
			}
		}
		if frac := float64(n) / float64(to-from); frac < 0.9 {
			fail("only %.0f%% of the tone's frames were Tonal", 100*frac)
		}
	}
	want := max(1, c.count)
	if len(dets) != want {
		fail("got %d detections %+v, want %d (events %+v)", len(dets), dets, want, events)
		return out
	}
	first := dets[0]
	out.detected = true
	out.latencyMs = first.AtMs - onset
	out.onsetErrMs = first.OnsetMs - onset
	if first.Detected != c.want {
		fail("detected %v, want %v", first.Detected, c.want)
	}
	// A packet lost at the start of the tone removes that audio for good:
	// each lost 20 ms in the first 100 ms may shift the onset and the
	// detection by that much.
	lostMs := tsLostMs(c.codec, onset-20, onset+100)
	if e := first.OnsetMs - onset; e < -30 || e > 30+lostMs {
		fail("onset %d ms, true %d ms (error %d ms > 30+%d lost)", first.OnsetMs, onset, e, lostMs)
	}
	if lat := first.AtMs - onset; lat > c.maxLatency+lostMs || lat < 0 {
		fail("detected at %d ms, %d ms after onset (max %d)", first.AtMs, lat, c.maxLatency)
	}
	if first.FreqHz < c.fLo || first.FreqHz > c.fHi {
		fail("frequency %.1f Hz outside [%.1f, %.1f]", first.FreqHz, c.fLo, c.fHi)
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
			fail("no Ended event: %+v", events)
			return out
		}
		if ended.Ended != c.want {
			fail("ended %v, want %v", ended.Ended, c.want)
		}
		if e := ended.DurMs - c.wantDurMs; e < -40 || e > 40 {
			fail("ended duration %d ms, want %d ±40", ended.DurMs, c.wantDurMs)
		}
	}
	return out
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
				var tonalMs int64
				if dur >= 300 {
					tonalMs = int64(dur) - 160
				}
				cases = append(cases, tsBeepCase{
					tonalMs: tonalMs,
					name:    fmt.Sprintf("%.0fHz/%.0fdBFS/%.0fms/%v%.0f/%v", f, lv, dur, nz.kind, nz.snr, codec),
					lead:    tsSilence(700 + float64(i%5)*13), tone: tsSine(f, lv, dur), tail: tsSilence(700),
					dbfs: lv, noise: nz.kind, snr: nz.snr, codec: codec,
					want: dsp.ToneBeep, fLo: lo, fHi: hi, maxLatency: 150, wantDurMs: int64(dur),
				})
			}
		}
	}
	var lat, onErr []float64
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, e, ok := tsCheckDetection(t, c)
			if ok {
				lat = append(lat, float64(l))
				onErr = append(onErr, math.Abs(float64(e)))
			}
		})
	}
	// The product target: amd_tone_detected p50 ≤ 150 ms after the beep starts.
	sort.Float64s(lat)
	sort.Float64s(onErr)
	if len(lat) == 0 {
		t.Fatal("no detections")
	}
	q := func(v []float64, p float64) float64 { return v[int(p*float64(len(v)-1))] }
	t.Logf("%d beeps: detection latency p50 %.0f ms, p95 %.0f ms, max %.0f ms; |onset error| p50 %.0f ms, p95 %.0f ms, max %.0f ms",
		len(lat), q(lat, .5), q(lat, .95), lat[len(lat)-1], q(onErr, .5), q(onErr, .95), onErr[len(onErr)-1])
	if q(lat, .5) > 120 {
		t.Errorf("latency p50 %.0f ms, want ≤ 120 ms", q(lat, .5))
	}
}

// TestToneDetectsBeepsOpus runs beeps through Opus at three bitrates with
// packet loss (concealment ramps the tone down and back up).
func TestToneDetectsBeepsOpus(t *testing.T) {
	t.Parallel()
	freqs := []float64{350, 620, 1000, 1400, 1850, 2450}
	durs := []float64{120, 200, 400}
	codecs := []tsCodec{tsOpusLoss, tsOpus8k, tsOpus24k}
	var failed []string
	total := 0
	i := 0
	for _, f := range freqs {
		for _, dur := range durs {
			for _, codec := range codecs {
				i++
				lv := []float64{-24, -15, -8}[i%3]
				nz := []tsNoiseKind{tsNoNoise, tsWhiteNoise, tsPinkNoise}[i%3]
				lo, hi := tsFreqTol(f)
				c := tsBeepCase{
					name: fmt.Sprintf("%.0fHz/%.0fms/%.0fdBFS/%v/%v", f, dur, lv, nz, codec),
					lead: tsSilence(500 + float64(i*37%200)), tone: tsSine(f, lv, dur), tail: tsSilence(600),
					dbfs: lv, noise: nz, snr: 20, codec: codec, want: dsp.ToneBeep, fLo: lo, fHi: hi, maxLatency: 150,
				}
				if r := tsEvalDetection(t, c); len(r.problems) > 0 {
					failed = append(failed, c.name+": "+strings.Join(r.problems, "; "))
				}
				total++
			}
		}
	}
	// A lost packet inside a 120 ms beep can leave too little clean tone;
	// the bar is a rate, and every miss is listed.
	rate := 1 - float64(len(failed))/float64(total)
	t.Logf("Opus with loss: %d/%d beeps detected with onset and latency in bounds (%.0f%%)", total-len(failed), total, 100*rate)
	for _, f := range failed {
		t.Logf("miss: %s", f)
	}
	if rate < 0.9 {
		t.Errorf("only %.0f%% of beeps through Opus with loss were detected correctly, want ≥ 90%%", 100*rate)
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
		{name: "dc-offset", tone: tsSine(1000, -24, 200), dc: 1500, want: dsp.ToneBeep, fLo: lo1k, fHi: hi1k, maxLatency: 150, wantDurMs: 200},
		{name: "dc-offset-after-speech", lead: tsConcat(tsSpeechLike(rng, 2000, -15), tsSilence(200)), tone: tsSine(620, -20, 150), dc: -2500, want: dsp.ToneBeep, fLo: 610, fHi: 630, maxLatency: 150},
		{name: "edge-300Hz-ulaw", tone: tsSine(300, -20, 100), codec: tsMulawCodec, want: dsp.ToneBeep, fLo: 290, fHi: 310, maxLatency: 150, wantDurMs: 100},
		{name: "edge-2500Hz-alaw", tone: tsSine(2500, -20, 100), codec: tsAlawCodec, want: dsp.ToneBeep, fLo: 2470, fHi: 2530, maxLatency: 150, wantDurMs: 100},
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

// TestToneBeepRightAfterSpeech: machines often start the beep the moment
// the greeting ends. The onset search and the dual-tone veto must not be
// confused by the speech just before the tone.
func TestToneBeepRightAfterSpeech(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 3; seed++ {
		for _, f := range []float64{400, 620, 850, 1000, 1400, 2000} {
			rng := rand.New(rand.NewPCG(seed, 77))
			lo, hi := tsFreqTol(f)
			c := tsBeepCase{
				name: fmt.Sprintf("seed%d/%.0fHz", seed, f),
				lead: tsSpeechLike(rng, 1500+float64(seed)*300, -14), tone: tsSine(f, -14, 250), tail: tsSilence(600),
				codec: tsCodec(seed % 3), want: dsp.ToneBeep, fLo: lo, fHi: hi, maxLatency: 150,
			}
			t.Run(c.name, func(t *testing.T) { tsCheckDetection(t, c) })
		}
	}
}

// TestToneClassifiesFaxAndSIT checks the special tones come out as what they are.
func TestToneClassifiesFaxAndSIT(t *testing.T) {
	t.Parallel()
	cases := []tsBeepCase{
		{name: "CED-plain", tone: tsCED(3000, -12, false), want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450, wantDurMs: 3000, tonalMs: 2800},
		{name: "CED-reversals", tone: tsCED(3300, -12, true), want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450, wantDurMs: 3300, tonalMs: 3000},
		{name: "CED-quiet-ulaw-noise", tone: tsCED(2700, -30, true), dbfs: -30, noise: tsWhiteNoise, snr: 18, codec: tsMulawCodec, want: dsp.ToneFaxCED, fLo: 2090, fHi: 2110, maxLatency: 450},
		{name: "CED-2090Hz", tone: tsSine(2090, -12, 2800), want: dsp.ToneFaxCED, fLo: 2080, fHi: 2100, maxLatency: 450},
		{name: "CNG-cadence", tone: tsCadence(500, 3000, 8000, func() []float64 { return tsSine(1100, -15, 500) }), want: dsp.ToneFaxCNG, fLo: 1090, fHi: 1110, maxLatency: 650, count: 3},
		{name: "CNG-alaw-brown", tone: tsCadence(500, 3000, 4000, func() []float64 { return tsSine(1100, -20, 500) }), dbfs: -20, noise: tsBrownNoise, snr: 15, codec: tsAlawCodec, want: dsp.ToneFaxCNG, fLo: 1090, fHi: 1110, maxLatency: 650, count: 2},
		{name: "V21-preamble", tone: tsV21Flags(1000, -12), want: dsp.ToneV21, fLo: 1600, fHi: 1900, maxLatency: 400, wantDurMs: 1000, tonalMs: 800},
		{name: "V21-ulaw-white", tone: tsV21Flags(1000, -20), dbfs: -20, noise: tsWhiteNoise, snr: 20, codec: tsMulawCodec, want: dsp.ToneV21, fLo: 1600, fHi: 1900, maxLatency: 400},
		{name: "SIT-low-short", tone: tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, -15), want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 274 + 200, wantDurMs: 274 + 274 + 380},
		{name: "SIT-high-long", tone: tsSIT(985.2, 1428.5, 1776.7, 380, 380, 380, -15), want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 380 + 380 + 200, wantDurMs: 1140},
		{name: "SIT-mixed-noise-ulaw", tone: tsSIT(913.8, 1428.5, 1776.7, 274, 380, 380, -24), dbfs: -24, noise: tsPinkNoise, snr: 18, codec: tsMulawCodec, want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 380 + 200},
		{name: "SIT-opus24k-loss", tone: tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, -15), codec: tsOpus24k, want: dsp.ToneSIT, fLo: 1760, fHi: 1795, maxLatency: 274 + 274 + 200},
		{name: "CED-opus16k-loss", tone: tsCED(3000, -12, true), codec: tsOpusLoss, want: dsp.ToneFaxCED, fLo: 2080, fHi: 2120, maxLatency: 450},
		{name: "CNG-opus8k-loss", tone: tsCadence(500, 3000, 4000, func() []float64 { return tsSine(1100, -15, 500) }), codec: tsOpus8k, want: dsp.ToneFaxCNG, fLo: 1085, fHi: 1115, maxLatency: 650, count: 2},
		{name: "V21-opus24k-loss", tone: tsV21Flags(1000, -12), codec: tsOpus24k, want: dsp.ToneV21, fLo: 1600, fHi: 1900, maxLatency: 400},
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
		{"flute-vibrato-2pct", tsFlute(rng, total, -14, 0.02)},
		{"flute-vibrato-3pct", tsFlute(rng, total, -14, 0.03)},
		{"ringback-in-noise", tsAddNoise(tsCadence(2000, 4000, total, func() []float64 { return tsDual(440, 480, -20, 2000) }), tsPink(rng, tsSamples(total)), tsAmp(-38))},
		{"dial-tone-unequal", tsTone(total, -13, []tsPartial{{350, 350, 1}, {440, 440, 0.5}})},
		{"ringback-unequal", tsCadence(2000, 4000, total, func() []float64 { return tsTone(2000, -13, []tsPartial{{440, 440, 1}, {480, 480, 0.5}}) })},
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
				events, tonal := tsRun(d, pcm)
				if dets := tsDetections(events); len(dets) > 0 {
					t.Fatalf("false detections: %+v", dets)
				}
				// Call-progress tones and a flute's notes may be Tonal;
				// speech, song, music and noise must stay countable as sound.
				if !strings.HasPrefix(c.name, "ringback") && !strings.HasPrefix(c.name, "dial") && !strings.HasPrefix(c.name, "flute") &&
					!strings.HasPrefix(c.name, "busy") && !strings.HasPrefix(c.name, "reorder") && !strings.HasPrefix(c.name, "DTMF") {
					n := 0
					for _, v := range tonal {
						if v {
							n++
						}
					}
					if frac := float64(n) / float64(len(tonal)); frac > 0.02 {
						t.Errorf("%.1f%% of frames flagged Tonal, want ≤ 2%%", 100*frac)
					}
				}
			})
		}
	}
}

func TestToneKindString(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		k    dsp.ToneKind
		want string
	}{
		{dsp.ToneNone, "none"}, {dsp.ToneBeep, "beep"}, {dsp.ToneFaxCED, "fax_ced"}, {dsp.ToneFaxCNG, "fax_cng"},
		{dsp.ToneV21, "fax_v21"}, {dsp.ToneSIT, "sit"}, {dsp.ToneKind(200), "unknown"},
	} {
		if got := c.k.String(); got != c.want {
			t.Errorf("ToneKind(%d).String() = %q, want %q", c.k, got, c.want)
		}
	}
}

// TestToneDetectorReset: after Reset a detector behaves exactly like a new
// one, including audio time restarting at zero.
func TestToneDetectorReset(t *testing.T) {
	t.Parallel()
	x := tsToInt16(tsConcat(tsSilence(300), tsSine(1000, -15, 400), tsSilence(300)))
	fresh, _ := tsRun(dsp.NewToneDetector(), x)
	d := dsp.NewToneDetector()
	// Leave it mid-tone and mid-SIT-hold, then reset.
	tsRun(d, tsToInt16(tsConcat(tsSilence(100), tsSine(950, -15, 200))))
	d.Reset()
	if st := d.Stats(); st != (dsp.ToneStats{}) {
		t.Fatalf("stats after Reset: %+v", st)
	}
	// Configuration survives Reset: a lossy detector stays lossy.
	lossy := dsp.NewToneDetector()
	lossy.SetLossyCodec(true)
	// A 1 kHz tone whose pitch jitters ±4 Hz every 10 ms, as Opus leaves it:
	// too unsteady for a clean channel, fine behind a lossy codec.
	jitter := make([]float64, 40)
	for i := range jitter {
		jitter[i] = 1000 + []float64{-4, 3, 0, 4, -2, -4, 2, 4, -3, 1}[i%10]
	}
	wobble := tsToInt16(tsConcat(tsSilence(300), tsSteps(jitter, 10, -15), tsSilence(300)))
	lossy.Reset()
	if ev, _ := tsRun(lossy, wobble); len(tsDetections(ev)) != 1 {
		t.Errorf("lossy detector after Reset: %+v, want the wobbling tone detected", ev)
	}
	if ev, _ := tsRun(dsp.NewToneDetector(), wobble); len(tsDetections(ev)) != 0 {
		t.Errorf("clean detector: %+v, want the wobbling tone rejected (else this check proves nothing)", ev)
	}
	again, _ := tsRun(d, x)
	if fmt.Sprint(fresh) != fmt.Sprint(again) {
		t.Fatalf("after Reset: %+v, fresh detector: %+v", again, fresh)
	}
	if len(fresh) != 2 || fresh[0].Detected != dsp.ToneBeep || fresh[1].Ended != dsp.ToneBeep {
		t.Fatalf("events %+v, want a beep detected and ended", fresh)
	}
}

// TestToneDetectorFrameLengths: short frames are padded with silence and
// long ones truncated, so audio time advances 20 ms per call regardless.
func TestToneDetectorFrameLengths(t *testing.T) {
	t.Parallel()
	tone := tsToInt16(tsSine(1000, -15, 1000))
	cases := []struct {
		name   string
		frame  func(i int) []int16
		detect bool
	}{
		{"nil", func(int) []int16 { return nil }, false},
		{"short", func(i int) []int16 { return tone[i*dsp.FrameSamples : i*dsp.FrameSamples+10] }, false},
		{"long", func(i int) []int16 { return tone[i*dsp.FrameSamples : i*dsp.FrameSamples+2*dsp.FrameSamples] }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := dsp.NewToneDetector()
			var det *dsp.ToneResult
			for i := 0; i < 20; i++ {
				r := d.Process(c.frame(i))
				if r.Detected != dsp.ToneNone && det == nil {
					det = &r
				}
			}
			if st := d.Stats(); st.Frames != 20 {
				t.Fatalf("Frames = %d, want 20", st.Frames)
			}
			if (det != nil) != c.detect {
				t.Fatalf("detected %+v, want detection %v", det, c.detect)
			}
			if det != nil && det.OnsetMs > 10 {
				t.Errorf("onset %d ms, want ~0 (long frames must not stretch audio time)", det.OnsetMs)
			}
		})
	}
}

// FuzzToneDetector feeds a synthesised tone (frequency, length, level and a
// second tone chosen by the fuzzer) mixed with arbitrary sample bytes, in
// arbitrary frame sizes, and checks the result invariants: valid kinds, times
// inside the audio seen, every Ended preceded by a Detected of the same kind.
func FuzzToneDetector(f *testing.F) {
	f.Add(uint16(1000), uint16(0), uint8(10), uint8(15), []byte{}, uint8(160))
	f.Add(uint16(2100), uint16(0), uint8(40), uint8(10), []byte{1, 2, 3, 4}, uint8(160))
	f.Add(uint16(440), uint16(480), uint8(30), uint8(13), []byte{0xff, 0x7f, 0x00, 0x80}, uint8(3))
	f.Add(uint16(1650), uint16(1850), uint8(20), uint8(20), make([]byte, 64), uint8(0))
	f.Fuzz(func(t *testing.T, f1, f2 uint16, frames, level uint8, raw []byte, step uint8) {
		// Bound the work per input: at most 200 frames of tone, 400 calls.
		n := int(frames) % 200 * dsp.FrameSamples
		x := make([]float64, n+len(raw)/2)
		a := tsAmp(-float64(level % 60))
		for i := 0; i < n; i++ {
			x[i] = a * math.Sin(2*math.Pi*float64(f1%4000)*float64(i)/tsRate)
			if f2 != 0 {
				x[i] += a * math.Sin(2*math.Pi*float64(f2%4000)*float64(i)/tsRate)
			}
		}
		for i := 0; i+1 < len(raw) && i/2 < len(x); i += 2 {
			x[i/2] += float64(int16(uint16(raw[i]) | uint16(raw[i+1])<<8))
		}
		pcm := tsToInt16(x)
		d := dsp.NewToneDetector()
		d.SetLossyCodec(step%2 == 1)
		open := dsp.ToneNone
		size := int(step)
		var nowMs int64
		for off, calls := 0, 0; (off < len(pcm) || off == 0) && calls < 400; off, calls = off+max(1, size), calls+1 {
			r := d.Process(pcm[off:min(len(pcm), off+size)])
			nowMs += dsp.FrameMs
			if r.Detected > dsp.ToneSIT || r.Ended > dsp.ToneSIT {
				t.Fatalf("invalid kind in %+v", r)
			}
			if r.Detected != dsp.ToneNone || r.Ended != dsp.ToneNone {
				if r.OnsetMs < 0 || r.OnsetMs > nowMs || r.DurationMs < 0 || r.OnsetMs+r.DurationMs > nowMs {
					t.Fatalf("times outside the audio (now %d ms): %+v", nowMs, r)
				}
				if r.FreqHz <= 0 || r.FreqHz > dsp.SampleRate/2 {
					t.Fatalf("frequency out of range: %+v", r)
				}
			}
			if r.Detected != dsp.ToneNone {
				if open != dsp.ToneNone && r.Ended == dsp.ToneNone {
					t.Fatalf("%v detected while %v still open", r.Detected, open)
				}
				open = r.Detected
			}
			if r.Ended != dsp.ToneNone {
				if r.Ended != open {
					t.Fatalf("%v ended, but open was %v", r.Ended, open)
				}
				open = dsp.ToneNone
			}
			if off >= len(pcm) {
				break
			}
		}
	})
}
