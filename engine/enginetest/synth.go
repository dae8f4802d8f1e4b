// Package enginetest builds synthetic calls for the detector's tests: speech-
// like bursts (a glottal harmonic series shaped by vowel formants, with
// consonant noise, syllable-rate amplitude modulation and phrase rhythm),
// beeps and tones, silence, noise of several colours and mains hum, and the
// G.711 and Opus-with-loss channels a call goes through. Everything is seeded
// and deterministic. It is test support: production code must not import it.
package enginetest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/amd-engine/amd/dsp"
)

// Noise kinds.
type Noise int

// Noise kinds mixed under a whole call by Render.
const (
	NoiseNone Noise = iota
	NoiseWhite
	NoisePink
	NoiseBrown
	NoiseHum
)

// String names the noise kind.
func (n Noise) String() string {
	return [...]string{"none", "white", "pink", "brown", "hum"}[n]
}

// vowel formants (F1, F2, F3) of a few English vowels, Hz.
var vowels = [][3]float64{
	{730, 1090, 2440}, // a
	{270, 2290, 3010}, // i
	{300, 870, 2240},  // u
	{530, 1840, 2480}, // e
	{570, 840, 2410},  // o
	{660, 1720, 2410}, // ae
	{490, 1350, 1690}, // er
}

// Call accumulates a call's audio at 8 kHz, as float samples (full scale 1.0).
type Call struct {
	rng   *rand.Rand
	buf   []float64
	F0    float64 // the talker's pitch, Hz
	words int     // words spoken so far (ground truth)
	spans [][2]int64
}

// Spans returns the [start, end) milliseconds of every phrase spoken.
func (c *Call) Spans() [][2]int64 { return c.spans }

// New returns an empty call whose randomness derives from seed; f0 is the
// talker's mean pitch (e.g. 110 for a low voice, 210 for a high one).
func New(seed uint64, f0 float64) *Call {
	return &Call{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), F0: f0}
}

// Ms returns the call's current length in milliseconds.
func (c *Call) Ms() int64 { return int64(len(c.buf)) * 1000 / dsp.SampleRate }

// Words returns how many words were spoken so far.
func (c *Call) Words() int { return c.words }

func msToSamples(ms int) int { return ms * dsp.SampleRate / 1000 }

// Silence appends ms of digital silence (noise comes at Render).
func (c *Call) Silence(ms int) *Call {
	c.buf = append(c.buf, make([]float64, msToSamples(ms))...)
	return c
}

// Say appends a phrase of n words at levelDBFS (RMS over its voiced part),
// in fluent rhythm: 1–2 syllables per word, 140–240 ms syllables, word gaps
// of 0–120 ms — about 2.5–3 words per second.
func (c *Call) Say(n int, levelDBFS float64) *Call {
	var phrase []float64
	for w := 0; w < n; w++ {
		syl := 1 + c.rng.IntN(2)
		for s := 0; s < syl; s++ {
			phrase = append(phrase, c.syllable(140+c.rng.IntN(100), len(phrase), n)...)
			if s < syl-1 {
				phrase = append(phrase, make([]float64, msToSamples(c.rng.IntN(30)))...)
			}
		}
		if w < n-1 {
			phrase = append(phrase, make([]float64, msToSamples(c.rng.IntN(120)))...)
		}
	}
	scaleVoiced(phrase, levelDBFS)
	start := c.Ms()
	c.buf = append(c.buf, phrase...)
	c.spans = append(c.spans, [2]int64{start, c.Ms()})
	c.words += n
	return c
}

// Syllable appends one voiced syllable of exactly ms at levelDBFS: a curt
// one-syllable answer ("Hi.", "Yes?").
func (c *Call) Syllable(ms int, levelDBFS float64) *Call {
	syl := c.syllable(ms, 0, 1)
	scaleVoiced(syl, levelDBFS)
	start := c.Ms()
	c.buf = append(c.buf, syl...)
	c.spans = append(c.spans, [2]int64{start, c.Ms()})
	c.words++
	return c
}

// Greeting appends a machine greeting: phrases of the given word counts
// separated by 250–550 ms pauses, as a recorded message reads.
func (c *Call) Greeting(levelDBFS float64, phrases ...int) *Call {
	for i, n := range phrases {
		if i > 0 {
			c.Silence(250 + c.rng.IntN(300))
		}
		c.Say(n, levelDBFS)
	}
	return c
}

// syllable renders one syllable of ms: an optional consonant (noise burst)
// then a voiced vowel with rising/decaying envelope and a pitch contour.
func (c *Call) syllable(ms, pos, phraseWords int) []float64 {
	n := msToSamples(ms)
	out := make([]float64, n)
	v := vowels[c.rng.IntN(len(vowels))]
	stress := math.Pow(10, (c.rng.Float64()*8-4)/20)
	// declination: pitch falls ~15 % over a phrase
	f0 := c.F0 * (1.05 - 0.15*float64(pos)/float64(msToSamples(300*max(phraseWords, 1))+1))
	f0 *= 1 + 0.08*(c.rng.Float64()-0.5)
	cons := 0
	if c.rng.IntN(10) < 6 {
		cons = msToSamples(30 + c.rng.IntN(50))
		if cons > n/3 {
			cons = n / 3
		}
		var prev float64
		for i := 0; i < cons; i++ {
			w := c.rng.NormFloat64()
			out[i] = 0.25 * (w - prev) // first difference: a hissy fricative
			prev = w
		}
	}
	voiced := n - cons
	glide := 1 + 0.1*(c.rng.Float64()-0.5)
	phase := make([]float64, 0, 40)
	var amps []float64
	for k := 1; float64(k)*f0 < 3600; k++ {
		f := float64(k) * f0
		a := 0.02
		for i, F := range v {
			b := 60.0 + 40*float64(i)
			g := []float64{1, 0.6, 0.3}[i]
			a += g / (1 + ((f-F)/b)*((f-F)/b))
		}
		amps = append(amps, a/float64(k)) // glottal −6 dB/oct tilt (with lip radiation)
		phase = append(phase, c.rng.Float64()*2*math.Pi)
	}
	att, dec := msToSamples(25), msToSamples(50)
	for i := 0; i < voiced; i++ {
		t := float64(i) / float64(voiced)
		fi := f0 * (1 + (glide-1)*t)
		env := 1.0
		if i < att {
			env = float64(i) / float64(att)
		} else if r := voiced - i; r < dec {
			env = float64(r) / float64(dec)
		}
		env *= 1 - 0.3*t // energy sags through the vowel
		var s float64
		for k := range amps {
			phase[k] += 2 * math.Pi * fi * float64(k+1) / dsp.SampleRate
			s += amps[k] * math.Sin(phase[k])
		}
		out[cons+i] += stress * env * s
	}
	return out
}

// scaleVoiced scales x so the RMS over its non-silent samples is levelDBFS.
func scaleVoiced(x []float64, levelDBFS float64) {
	var sum float64
	var n int
	for _, v := range x {
		if v != 0 {
			sum += v * v
			n++
		}
	}
	if n == 0 {
		return
	}
	g := math.Pow(10, levelDBFS/20) / math.Sqrt(sum/float64(n))
	for i := range x {
		x[i] *= g
	}
}

// Tone appends a sine of freq Hz for ms at levelDBFS (RMS).
func (c *Call) Tone(freq float64, ms int, levelDBFS float64) *Call {
	n := msToSamples(ms)
	a := math.Pow(10, levelDBFS/20) * math.Sqrt2
	ramp := msToSamples(5)
	for i := 0; i < n; i++ {
		env := 1.0
		if i < ramp {
			env = float64(i) / float64(ramp)
		} else if n-i < ramp {
			env = float64(n-i) / float64(ramp)
		}
		c.buf = append(c.buf, a*env*math.Sin(2*math.Pi*freq*float64(i)/dsp.SampleRate))
	}
	return c
}

// Render mixes noise of kind at noiseDBFS (RMS; ignored for NoiseNone) under
// the whole call and returns 16-bit samples, clipped at full scale.
func (c *Call) Render(kind Noise, noiseDBFS float64) []int16 {
	noise := MakeNoise(c.rng, kind, len(c.buf), noiseDBFS)
	out := make([]int16, len(c.buf))
	for i, v := range c.buf {
		s := (v + noise[i]) * 32767
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(s))))
	}
	return out
}

// MakeNoise returns n samples of noise of kind at levelDBFS RMS (zeros for
// NoiseNone).
func MakeNoise(rng *rand.Rand, kind Noise, n int, levelDBFS float64) []float64 {
	x := make([]float64, n)
	switch kind {
	case NoiseNone:
		return x
	case NoiseWhite:
		for i := range x {
			x[i] = rng.NormFloat64()
		}
	case NoisePink:
		// Paul Kellet's economy pink filter.
		var b0, b1, b2 float64
		for i := range x {
			w := rng.NormFloat64()
			b0 = 0.99765*b0 + w*0.0990460
			b1 = 0.96300*b1 + w*0.2965164
			b2 = 0.57000*b2 + w*1.0526913
			x[i] = b0 + b1 + b2 + w*0.1848
		}
	case NoiseBrown:
		// leaky integrator of white noise: −6 dB/oct above ~6 Hz
		var y float64
		for i := range x {
			y = 0.995*y + rng.NormFloat64()
			x[i] = y
		}
	case NoiseHum:
		// 60 Hz mains with odd and even harmonics and a slow wobble
		ph := rng.Float64() * 2 * math.Pi
		for i := range x {
			t := float64(i) / dsp.SampleRate
			w := 2 * math.Pi * 60 * t
			x[i] = math.Sin(w+ph) + 0.5*math.Sin(2*w) + 0.35*math.Sin(3*w+1) + 0.2*math.Sin(5*w+2) + 0.1*math.Sin(7*w)
		}
	}
	var sum float64
	for _, v := range x {
		sum += v * v
	}
	g := math.Pow(10, levelDBFS/20) / math.Sqrt(sum/float64(n)+1e-30)
	for i := range x {
		x[i] *= g
	}
	return x
}

// Mulaw returns pcm after a G.711 μ-law round trip.
func Mulaw(pcm []int16) []int16 {
	enc := make([]byte, len(pcm))
	out := make([]int16, len(pcm))
	dsp.EncodeMulaw(enc, pcm)
	dsp.DecodeMulaw(out, enc)
	return out
}

// ErrOpus wraps Opus channel failures.
var ErrOpus = errors.New("enginetest: opus channel")

// OpusLoss returns pcm after an Opus round trip at bitrate, losing each
// 20 ms packet with probability loss (concealed by the decoder, as a call
// would be).
func OpusLoss(pcm []int16, bitrate int, loss float64, seed uint64) ([]int16, error) {
	enc, err := dsp.NewOpusEncoder(bitrate)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpus, err)
	}
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpus, err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	pkt := make([]byte, dsp.OpusMaxPacketBytes)
	frame := make([]int16, dsp.FrameSamples)
	pcmOut := make([]int16, dsp.OpusMaxPacketSamples)
	out := make([]int16, 0, len(pcm))
	for off := 0; off < len(pcm); off += dsp.FrameSamples {
		n := copy(frame, pcm[off:])
		clear(frame[n:])
		m, err := enc.Encode(frame, pkt)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOpus, err)
		}
		var p []byte
		if rng.Float64() >= loss {
			p = pkt[:m]
		}
		k, err := dec.Decode(p, pcmOut)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOpus, err)
		}
		out = append(out, pcmOut[:k]...)
	}
	return out[:min(len(out), len(pcm))], nil
}
