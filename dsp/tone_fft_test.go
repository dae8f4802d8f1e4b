package dsp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// TestToneFFTMatchesGonum checks the packed transform against gonum's
// 256-point real plan on tones, noise, an impulse and full-scale extremes,
// windowed from the raw ring as the detector does (at the ring's start, in
// the middle and wrapping around its end): every bin the detector reads must
// agree to 1e-9 of the spectrum's total power.
func TestToneFFTMatchesGonum(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func(i int) float64
	}{
		{"sine-1000", func(i int) float64 { return 8000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate) }},
		{"sine-off-bin", func(i int) float64 { return 3000 * math.Cos(2*math.Pi*437.3*float64(i)/SampleRate+0.4) }},
		{"white", func(int) float64 { return rng.NormFloat64() * 5000 }},
		{"impulse", func(i int) float64 { return map[bool]float64{true: 32767}[i == 37] }},
		{"square", func(i int) float64 { return 32767 * math.Copysign(1, math.Sin(2*math.Pi*700*float64(i)/SampleRate)) }},
		{"dc", func(int) float64 { return -1234 }},
	}
	plan := fourier.NewFFT(toneWin)
	coef := make([]complex128, toneBins)
	for _, c := range cases {
		for _, at := range []int{0, 880, toneRawRing - 96} {
			t.Run(fmt.Sprintf("%s/at%d", c.name, at), func(t *testing.T) {
				var raw [toneRawRing]int16
				var x [toneWin]float64
				for i := range x {
					v := int16(max(-32768, min(32767, math.Round(c.gen(i)))))
					raw[(at+i)&(toneRawRing-1)] = v
					x[i] = float64(v) * (0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/toneWin))
				}
				plan.Coefficients(coef, x[:])
				var f toneFFT
				f.windowRing(&raw, at)
				var pow [toneBins]float64
				f.power(&pow, 1, toneFFTHalf-1)
				var total float64
				for _, v := range coef {
					total += real(v)*real(v) + imag(v)*imag(v)
				}
				for k := 1; k < toneFFTHalf; k++ {
					want := real(coef[k])*real(coef[k]) + imag(coef[k])*imag(coef[k])
					if d := math.Abs(pow[k] - want); d > 1e-9*total+1e-9 {
						t.Fatalf("at %d, bin %d: power %g, gonum %g", at, k, pow[k], want)
					}
				}
			})
		}
	}
}

// toneFFTBenchRing is a 1 kHz tone in the raw ring, the input of the
// transform benchmarks.
func toneFFTBenchRing() *[toneRawRing]int16 {
	var raw [toneRawRing]int16
	for i := range raw {
		raw[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate))
	}
	return &raw
}

// BenchmarkToneFFT: one hop as the detector runs it — window from the ring,
// gonum's in-place radix-2 transform of the packed window, split to power
// over the bins the detector reads.
func BenchmarkToneFFT(b *testing.B) {
	raw := toneFFTBenchRing()
	var f toneFFT
	var pow [toneBins]float64
	b.ReportAllocs()
	for b.Loop() {
		f.windowRing(raw, 880)
		f.power(&pow, specLo, specHi)
	}
}

// BenchmarkToneFFTCmplxPlan: the same hop with gonum's fftpack complex
// plan (fourier.NewCmplxFFT(128)) in place of CoefficientsRadix2 — the
// alternative the hot path does not use (slower, and a 6 KiB plan per call).
func BenchmarkToneFFTCmplxPlan(b *testing.B) {
	raw := toneFFTBenchRing()
	plan := fourier.NewCmplxFFT(toneFFTHalf)
	var f toneFFT
	var pow [toneBins]float64
	b.ReportAllocs()
	for b.Loop() {
		f.windowRing(raw, 880)
		plan.Coefficients(f.z[:], f.z[:])
		// The split as power does it, on the plan's coefficients.
		for k := specLo; k <= specHi; k++ {
			z, c := f.z[k], f.z[toneFFTHalf-k]
			e := (z + complex(real(c), -imag(c))) / 2
			o := (z - complex(real(c), -imag(c))) / 2i
			x := e + complex(toneSplitR[k], toneSplitI[k])*o
			pow[k] = real(x)*real(x) + imag(x)*imag(x)
		}
	}
}

// dualToneDetector returns a detector whose ring holds 200 ms of 440+480 Hz
// (the US ringback pair, which one 31 Hz bin cannot separate).
func dualToneDetector() *ToneDetector {
	d := NewToneDetector()
	const n = 1600
	for i := 0; i < n; i++ {
		ts := float64(i) / SampleRate
		d.raw[i] = int16(6000*math.Sin(2*math.Pi*440*ts) + 6000*math.Sin(2*math.Pi*480*ts))
	}
	d.samples = n - FrameSamples
	return d
}

// TestToneDualToneVeto: the veto finds the second tone, and a pure tone
// passes it.
func TestToneDualToneVeto(t *testing.T) {
	d := dualToneDetector()
	if !d.dualTone(440, 0, 1600) {
		t.Error("440+480 Hz: the veto found no second tone")
	}
	for i := range 1600 {
		d.raw[i] = int16(8000 * math.Sin(2*math.Pi*460*float64(i)/SampleRate))
	}
	if d.dualTone(460, 0, 1600) {
		t.Error("460 Hz alone: the veto found a second tone")
	}
}

// TestToneLongMatchesGonumPlan: the veto's packed radix-2 transform gives
// the power spectrum gonum's 1024-point real plan gives, full and short
// (zero-padded) windows alike.
func TestToneLongMatchesGonumPlan(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var raw [toneRawRing]int16
	for i := range raw {
		raw[i] = int16(rng.IntN(20000) - 10000)
	}
	plan := fourier.NewFFT(toneLongWin)
	var l toneLong
	for _, n := range []int64{toneLongWin, 700, toneLongWin / 4} {
		const end = 1500
		l.transform(&raw, end, n)
		seq := make([]float64, toneLongWin)
		for i := int64(0); i < n; i++ {
			seq[i] = (0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))) * float64(raw[(end-n+i)&(toneRawRing-1)])
		}
		coef := plan.Coefficients(nil, seq)
		for k := 1; k < toneLongWin/2; k++ {
			want := real(coef[k])*real(coef[k]) + imag(coef[k])*imag(coef[k])
			if got := l.power(k); math.Abs(got-want) > 1e-9*math.Max(want, 1e6) {
				t.Fatalf("n=%d bin %d: %g, gonum's plan %g", n, k, got, want)
			}
		}
	}
}

// BenchmarkToneDualToneVeto: one run of the 1024-point veto; its buffer is
// the call's own from the first veto on, so it allocates nothing after.
func BenchmarkToneDualToneVeto(b *testing.B) {
	d := dualToneDetector()
	b.ReportAllocs()
	for b.Loop() {
		if !d.dualTone(440, 0, 1600) {
			b.Fatal("veto missed the second tone")
		}
	}
}
