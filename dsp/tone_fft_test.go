package dsp

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

// TestToneFFTMatchesGonum checks the specialised transform against gonum's
// on tones, noise, an impulse and full-scale extremes: every bin the
// detector reads must agree to 1e-9 of the spectrum's total power.
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
	f := newToneFFT()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var x [toneWin]float64
			for i := range x {
				x[i] = c.gen(i)
			}
			plan.Coefficients(coef, x[:])
			var pow [toneBins]float64
			f.power(&x, &pow, 1, toneFFTHalf-1)
			var total float64
			for _, v := range coef {
				total += real(v)*real(v) + imag(v)*imag(v)
			}
			for k := 1; k < toneFFTHalf; k++ {
				want := real(coef[k])*real(coef[k]) + imag(coef[k])*imag(coef[k])
				if d := math.Abs(pow[k] - want); d > 1e-9*total+1e-9 {
					t.Fatalf("bin %d: power %g, gonum %g", k, pow[k], want)
				}
			}
		})
	}
}

// BenchmarkToneFFT: one hop's transform to power over the bins the detector
// reads (compare BenchmarkFFT256, gonum's plan).
func BenchmarkToneFFT(b *testing.B) {
	f := newToneFFT()
	var x [toneWin]float64
	var pow [toneBins]float64
	for i := range x {
		x[i] = 8000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.power(&x, &pow, specLo, specHi)
	}
}
