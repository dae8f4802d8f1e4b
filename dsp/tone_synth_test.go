package dsp_test

import (
	"math"
	"math/rand/v2"

	"github.com/amd-engine/amd/dsp"
)

// Signal synthesis for the tone detector's tests. Everything is built as
// float64 at 8 kHz in int16 units and mixed before one final conversion, so
// levels are exact. Names carry a "ts" prefix to stay clear of the other dsp
// tests' helpers.

const tsRate = float64(dsp.SampleRate)

// tsAmp converts a sine's level in dBFS (0 dBFS = full-scale peak) to its peak amplitude.
func tsAmp(dbfs float64) float64 { return 32767 * math.Pow(10, dbfs/20) }

func tsSamples(ms float64) int { return int(math.Round(ms * tsRate / 1000)) }

func tsSilence(ms float64) []float64 { return make([]float64, tsSamples(ms)) }

func tsConcat(parts ...[]float64) []float64 {
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// tsRamp applies raised-cosine fades of rampMs at both ends, as real beeps have.
func tsRamp(x []float64, rampMs float64) []float64 {
	n := min(tsSamples(rampMs), len(x)/2)
	for i := 0; i < n; i++ {
		g := 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(n))
		x[i] *= g
		x[len(x)-1-i] *= g
	}
	return x
}

// tsPartial is one sinusoidal component: frequency sweeping linearly from F0
// to F1, at a peak amplitude relative to the tone's level.
type tsPartial struct {
	F0, F1 float64
	Rel    float64
}

// tsTone renders components at dbfs (level of a Rel=1 partial) for ms, with
// phase-continuous sweeps, and optional harmonics relative to each partial.
func tsTone(ms, dbfs float64, parts []tsPartial, harmonics ...float64) []float64 {
	n := tsSamples(ms)
	x := make([]float64, n)
	a := tsAmp(dbfs)
	for _, p := range parts {
		phase := 0.0
		for i := 0; i < n; i++ {
			f := p.F0 + (p.F1-p.F0)*float64(i)/float64(max(1, n-1))
			x[i] += a * p.Rel * math.Sin(phase)
			for h, rel := range harmonics {
				x[i] += a * p.Rel * rel * math.Sin(float64(h+2)*phase+0.3*float64(h))
			}
			phase += 2 * math.Pi * f / tsRate
		}
	}
	return tsRamp(x, 5)
}

func tsSine(f, dbfs, ms float64) []float64 {
	return tsTone(ms, dbfs, []tsPartial{{F0: f, F1: f, Rel: 1}})
}

func tsDual(f1, f2, dbfs, ms float64) []float64 {
	return tsTone(ms, dbfs, []tsPartial{{F0: f1, F1: f1, Rel: 1}, {F0: f2, F1: f2, Rel: 1}})
}

// tsSteps renders phase-continuous frequency steps of stepMs each.
func tsSteps(freqs []float64, stepMs, dbfs float64) []float64 {
	n := tsSamples(stepMs)
	x := make([]float64, 0, n*len(freqs))
	a := tsAmp(dbfs)
	phase := 0.0
	for _, f := range freqs {
		for i := 0; i < n; i++ {
			x = append(x, a*math.Sin(phase))
			phase += 2 * math.Pi * f / tsRate
		}
	}
	return tsRamp(x, 5)
}

// tsCadence repeats on-signal/off-silence until total ms.
func tsCadence(onMs, offMs, totalMs float64, on func() []float64) []float64 {
	var out []float64
	for len(out) < tsSamples(totalMs) {
		out = append(out, on()...)
		out = append(out, tsSilence(offMs)...)
	}
	return out[:tsSamples(totalMs)]
}

// Noise colours, normalised afterwards by tsAddNoise.
func tsWhite(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// tsPink uses Paul Kellet's economy filter (−3 dB/octave within ±0.5 dB).
func tsPink(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	var b0, b1, b2 float64
	for i := range x {
		w := rng.NormFloat64()
		b0 = 0.99765*b0 + w*0.0990460
		b1 = 0.96300*b1 + w*0.2965164
		b2 = 0.57000*b2 + w*1.0526913
		x[i] = b0 + b1 + b2 + w*0.1848
	}
	return x
}

// tsBrown integrates white noise with a slight leak (−6 dB/octave above ~10 Hz).
func tsBrown(rng *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	var s float64
	for i := range x {
		s = 0.992*s + rng.NormFloat64()
		x[i] = s
	}
	return x
}

func tsRMS(x []float64) float64 {
	var e float64
	for _, v := range x {
		e += v * v
	}
	return math.Sqrt(e / float64(max(1, len(x))))
}

// tsAddNoise adds noise scaled to rms (int16 units) over the whole signal.
func tsAddNoise(x, noise []float64, rms float64) []float64 {
	g := rms / tsRMS(noise)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = x[i] + g*noise[i]
	}
	return out
}

// tsToInt16 converts with saturation.
func tsToInt16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	return out
}

func tsMulaw(x []int16) []int16 {
	enc := make([]byte, len(x))
	dsp.EncodeMulaw(enc, x)
	out := make([]int16, len(x))
	dsp.DecodeMulaw(out, enc)
	return out
}

func tsAlaw(x []int16) []int16 {
	enc := make([]byte, len(x))
	dsp.EncodeAlaw(enc, x)
	out := make([]int16, len(x))
	dsp.DecodeAlaw(out, enc)
	return out
}

// tsOpus encodes at bitrate and decodes, dropping every lossEvery-th packet
// (0: none) so the decoder conceals it.
func tsOpus(x []int16, bitrate, lossEvery int) ([]int16, error) {
	enc, err := dsp.NewOpusEncoder(bitrate)
	if err != nil {
		return nil, err
	}
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		return nil, err
	}
	out := make([]int16, 0, len(x))
	pkt := make([]byte, dsp.OpusMaxPacketBytes)
	pcm := make([]int16, dsp.OpusMaxPacketSamples)
	for i := 0; i+dsp.FrameSamples <= len(x); i += dsp.FrameSamples {
		n, err := enc.Encode(x[i:i+dsp.FrameSamples], pkt)
		if err != nil {
			return nil, err
		}
		p := pkt[:n]
		if lossEvery > 0 && (i/dsp.FrameSamples)%lossEvery == lossEvery-1 {
			p = nil
		}
		m, err := dec.Decode(p, pcm)
		if err != nil {
			return nil, err
		}
		out = append(out, pcm[:m]...)
	}
	return out, nil
}

// tsDTMF renders digits, each onMs on and offMs off, low tone at dbfs and
// the high tone twistDB louder.
func tsDTMF(digits string, onMs, offMs, dbfs, twistDB float64) []float64 {
	low := map[rune]float64{'1': 697, '2': 697, '3': 697, 'A': 697, '4': 770, '5': 770, '6': 770, 'B': 770,
		'7': 852, '8': 852, '9': 852, 'C': 852, '*': 941, '0': 941, '#': 941, 'D': 941}
	high := map[rune]float64{'1': 1209, '4': 1209, '7': 1209, '*': 1209, '2': 1336, '5': 1336, '8': 1336, '0': 1336,
		'3': 1477, '6': 1477, '9': 1477, '#': 1477, 'A': 1633, 'B': 1633, 'C': 1633, 'D': 1633}
	var out []float64
	for _, d := range digits {
		hr := math.Pow(10, twistDB/20)
		out = append(out, tsTone(onMs, dbfs, []tsPartial{{F0: low[d], F1: low[d], Rel: 1}, {F0: high[d], F1: high[d], Rel: hr}})...)
		out = append(out, tsSilence(offMs)...)
	}
	return out
}

// tsVowel renders a sung/sustained vowel: a harmonic series on F0 with
// vibrato (rate Hz, depth as a fraction), random cycle jitter, shaped by
// formant resonances (so several harmonics are strong) and a −6 dB/octave
// source tilt.
func tsVowel(rng *rand.Rand, f0, vibRate, vibDepth, jitter, dbfs, ms float64, formants [3]float64) []float64 {
	n := tsSamples(ms)
	x := make([]float64, n)
	nh := int(3800 / (f0 * (1 + vibDepth)))
	amps := make([]float64, nh+1)
	for h := 1; h <= nh; h++ {
		fh := f0 * float64(h)
		g := 1 / float64(h) // source tilt
		var env float64
		for _, fm := range formants {
			bw := 80 + fm*0.05
			env += 1 / (1 + math.Pow((fh-fm)/bw, 2))
		}
		amps[h] = g * (0.15 + env)
	}
	var peak float64
	for _, a := range amps {
		peak = max(peak, a)
	}
	phase := 0.0
	jit := 0.0
	for i := 0; i < n; i++ {
		t := float64(i) / tsRate
		if i%tsSamples(5) == 0 {
			jit = 0.7*jit + jitter*rng.NormFloat64()
		}
		f := f0 * (1 + vibDepth*math.Sin(2*math.Pi*vibRate*t) + jit)
		for h := 1; h <= nh; h++ {
			x[i] += amps[h] / peak * math.Sin(float64(h)*phase)
		}
		phase += 2 * math.Pi * f / tsRate
	}
	a := tsAmp(dbfs) / math.Max(1e-9, tsRMS(x)*math.Sqrt2)
	for i := range x {
		x[i] *= a
	}
	return tsRamp(x, 20)
}

// tsSpeechLike renders syllables: voiced harmonic bursts with falling,
// jittered pitch and moving formants, fricative noise, and pauses.
func tsSpeechLike(rng *rand.Rand, ms, dbfs float64) []float64 {
	var out []float64
	vowels := [][3]float64{{730, 1090, 2440}, {270, 2290, 3010}, {530, 1840, 2480}, {570, 840, 2410}, {300, 870, 2240}, {660, 1720, 2410}}
	for len(out) < tsSamples(ms) {
		f0 := 100 + rng.Float64()*140
		syl := 90 + rng.Float64()*200
		v := vowels[rng.IntN(len(vowels))]
		w := vowels[rng.IntN(len(vowels))]
		// Voiced part: pitch falls by up to 20 %, formants glide from v to w.
		n := tsSamples(syl)
		seg := make([]float64, n)
		phase := 0.0
		for i := 0; i < n; i++ {
			fr := float64(i) / float64(n)
			f := f0 * (1 - 0.2*fr + 0.01*rng.NormFloat64())
			var fm [3]float64
			for k := range fm {
				fm[k] = v[k] + (w[k]-v[k])*fr
			}
			for h := 1; float64(h)*f < 3800; h++ {
				fh := float64(h) * f
				var env float64
				for _, c := range fm {
					env += 1 / (1 + math.Pow((fh-c)/(60+0.06*c), 2))
				}
				seg[i] += env / float64(h) * math.Sin(float64(h)*phase)
			}
			phase += 2 * math.Pi * f / tsRate
		}
		tsRamp(seg, 15)
		a := tsAmp(dbfs+rng.Float64()*6-3) / math.Max(1e-9, tsRMS(seg)*math.Sqrt2)
		for i := range seg {
			seg[i] *= a
		}
		out = append(out, seg...)
		if rng.IntN(2) == 0 { // fricative: high-passed noise
			fr := tsWhite(rng, tsSamples(40+rng.Float64()*80))
			for i := len(fr) - 1; i > 0; i-- {
				fr[i] -= 0.9 * fr[i-1]
			}
			g := tsAmp(dbfs-12) / tsRMS(fr)
			for i := range fr {
				fr[i] *= g
			}
			out = append(out, tsRamp(fr, 5)...)
		}
		out = append(out, tsSilence(20+rng.Float64()*150)...)
	}
	return out[:tsSamples(ms)]
}

// tsMusic renders changing triads of harmonic-rich notes with vibrato, plus a
// bass line: many strong peaks, nothing like a lone beep.
func tsMusic(rng *rand.Rand, ms, dbfs float64) []float64 {
	var out []float64
	roots := []float64{220, 247, 262, 294, 330, 349, 392}
	for len(out) < tsSamples(ms) {
		root := roots[rng.IntN(len(roots))]
		noteMs := 250 + rng.Float64()*350
		n := tsSamples(noteMs)
		seg := make([]float64, n)
		for _, ratio := range []float64{0.5, 1, 1.26, 1.5} {
			f := root * ratio
			phase := 0.0
			for i := 0; i < n; i++ {
				t := float64(i) / tsRate
				for h := 1; h <= 5 && float64(h)*f < 3800; h++ {
					seg[i] += 1 / float64(h) * math.Sin(float64(h)*phase) * math.Exp(-t*2)
				}
				phase += 2 * math.Pi * f * (1 + 0.006*math.Sin(2*math.Pi*5.5*t)) / tsRate
			}
		}
		a := tsAmp(dbfs) / math.Max(1e-9, tsRMS(seg)*math.Sqrt2)
		for i := range seg {
			seg[i] *= a
		}
		out = append(out, tsRamp(seg, 8)...)
	}
	return out[:tsSamples(ms)]
}

// tsClicks renders short impulses and 2 ms decaying bursts at random times.
func tsClicks(rng *rand.Rand, ms, dbfs float64) []float64 {
	x := tsSilence(ms)
	a := tsAmp(dbfs)
	for i := tsSamples(50); i < len(x)-40; i += tsSamples(60 + rng.Float64()*300) {
		if rng.IntN(2) == 0 {
			x[i] = a
			x[i+1] = -a / 2
			continue
		}
		f := 500 + rng.Float64()*2500
		for k := 0; k < 16; k++ {
			x[i+k] = a * math.Exp(-float64(k)/4) * math.Sin(2*math.Pi*f*float64(k)/tsRate)
		}
	}
	return x
}

// tsV21Flags renders V.21 channel-2 FSK (mark 1650 Hz, space 1850 Hz, 300
// baud), phase-continuous, carrying repeated HDLC flags 0x7E.
func tsV21Flags(ms, dbfs float64) []float64 {
	n := tsSamples(ms)
	x := make([]float64, n)
	a := tsAmp(dbfs)
	phase := 0.0
	const flag = 0x7E
	for i := 0; i < n; i++ {
		bit := int(float64(i) * 300 / tsRate)
		f := 1850.0
		if (flag>>(bit%8))&1 == 1 {
			f = 1650
		}
		x[i] = a * math.Sin(phase)
		phase += 2 * math.Pi * f / tsRate
	}
	return tsRamp(x, 5)
}

// tsCED renders the 2100 Hz answer tone, with 180° phase reversals every
// 450 ms when reversals is set (V.25 / ANSam-style echo-canceller disable).
func tsCED(ms, dbfs float64, reversals bool) []float64 {
	n := tsSamples(ms)
	x := make([]float64, n)
	a := tsAmp(dbfs)
	flip := 0.0
	for i := 0; i < n; i++ {
		if reversals && i > 0 && i%tsSamples(450) == 0 {
			flip += math.Pi
		}
		x[i] = a * math.Sin(2*math.Pi*2100*float64(i)/tsRate+flip)
	}
	return tsRamp(x, 5)
}

// tsSIT renders a SIT triplet of contiguous segments.
func tsSIT(f1, f2, f3, d1, d2, d3, dbfs float64) []float64 {
	a := tsAmp(dbfs)
	var x []float64
	phase := 0.0
	for _, s := range []struct{ f, d float64 }{{f1, d1}, {f2, d2}, {f3, d3}} {
		for i := 0; i < tsSamples(s.d); i++ {
			x = append(x, a*math.Sin(phase))
			phase += 2 * math.Pi * s.f / tsRate
		}
	}
	return tsRamp(x, 5)
}

// tsEvent is one reported tone event.
type tsEvent struct {
	AtMs     int64 // audio time at the end of the frame that reported it
	Detected dsp.ToneKind
	Ended    dsp.ToneKind
	FreqHz   float64
	OnsetMs  int64
	DurMs    int64
}

// tsRun feeds x frame by frame and collects events and the Tonal flags.
func tsRun(d *dsp.ToneDetector, x []int16) (events []tsEvent, tonal []bool) {
	for i := 0; i+dsp.FrameSamples <= len(x); i += dsp.FrameSamples {
		r := d.Process(x[i : i+dsp.FrameSamples])
		tonal = append(tonal, r.Tonal)
		if r.Detected != dsp.ToneNone || r.Ended != dsp.ToneNone {
			events = append(events, tsEvent{
				AtMs: int64(i+dsp.FrameSamples) * 1000 / dsp.SampleRate, Detected: r.Detected, Ended: r.Ended,
				FreqHz: r.FreqHz, OnsetMs: r.OnsetMs, DurMs: r.DurationMs,
			})
		}
	}
	return events, tonal
}

func tsDetections(ev []tsEvent) []tsEvent {
	var out []tsEvent
	for _, e := range ev {
		if e.Detected != dsp.ToneNone {
			out = append(out, e)
		}
	}
	return out
}

// tsFlute renders a melody of nearly pure notes (weak 2nd/3rd harmonics)
// with a player's vibrato (rate ~5.5 Hz, depth as a fraction) and breathy
// onsets: hold music's lead line.
func tsFlute(rng *rand.Rand, ms, dbfs, depth float64) []float64 {
	notes := []float64{523, 587, 659, 698, 784, 880, 988, 1047, 1175}
	var out []float64
	for len(out) < tsSamples(ms) {
		f0 := notes[rng.IntN(len(notes))]
		n := tsSamples(250 + rng.Float64()*400)
		rate := 4.8 + rng.Float64()*1.5
		ph0 := rng.Float64() * 2 * math.Pi
		seg := make([]float64, n)
		phase := 0.0
		for i := range seg {
			t := float64(i) / tsRate
			f := f0 * (1 + depth*math.Sin(2*math.Pi*rate*t+ph0))
			seg[i] = math.Sin(phase) + 0.08*math.Sin(2*phase) + 0.05*math.Sin(3*phase)
			phase += 2 * math.Pi * f / tsRate
		}
		a := tsAmp(dbfs)
		for i := range seg {
			seg[i] *= a
		}
		out = append(out, tsRamp(seg, 25)...)
		out = append(out, tsSilence(rng.Float64()*60)...)
	}
	return out[:tsSamples(ms)]
}
