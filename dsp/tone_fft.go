package dsp

import (
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// The hop transform: a 256-point real DFT of a Hann-windowed window, to
// power, for only the bins the detector reads. The 256 real samples are
// packed into 128 complex ones (even samples real, odd imaginary) and
// transformed by gonum's in-place radix-2 FFT (fourier.CoefficientsRadix2:
// no plan, no allocation), then split into the real signal's spectrum.
// That is half the work of a 256-point real plan and ~3× faster than
// gonum's fftpack plans (fourier.NewFFT(256) ~4.2 µs, NewCmplxFFT(128)
// ~3.9 µs, this ~1.3 µs; BenchmarkToneFFT* in tone_fft_test.go). The result
// equals fourier.NewFFT(256)'s to float rounding (TestToneFFTMatchesGonum).
const toneFFTHalf = toneWin / 2 // complex points

// Constant tables, computed once for the process and only read afterwards,
// so every detector shares them.
var (
	// toneHann is the periodic Hann window: integer-bin tones leak into
	// exactly ±1 bin, which keeps the peak-energy sums (±3 bins) tight.
	toneHann [toneWin]float64
	// toneSplitR/I hold e^{−2πi k/256}, the twiddles of the real split.
	toneSplitR, toneSplitI [toneFFTHalf]float64
)

func init() {
	for i := range toneHann {
		toneHann[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/toneWin)
	}
	for k := range toneSplitR {
		a := -2 * math.Pi * float64(k) / toneWin
		toneSplitR[k], toneSplitI[k] = math.Cos(a), math.Sin(a)
	}
}

// toneFFT is one detector's transform buffer: the packed window, then its
// coefficients in place.
type toneFFT struct {
	z [toneFFTHalf]complex128
}

// windowRing packs the Hann-windowed toneWin samples of raw starting at
// ring index at (even, as every hop's window start is) into z.
func (f *toneFFT) windowRing(raw *[toneRawRing]int16, at int) {
	for m := range f.z {
		i := at + 2*m
		f.z[m] = complex(float64(raw[i&(toneRawRing-1)])*toneHann[2*m],
			float64(raw[(i+1)&(toneRawRing-1)])*toneHann[2*m+1])
	}
}

// power transforms z and writes |X[k]|² of the 256-point real DFT into
// pow[k] for lo ≤ k ≤ hi (1 ≤ lo ≤ hi ≤ 127), X[k] = Σ x[n]·e^{−2πi kn/256}
// as gonum defines it. z is left holding the packed transform.
func (f *toneFFT) power(pow *[toneBins]float64, lo, hi int) {
	z := fourier.CoefficientsRadix2(f.z[:])
	// Split: E = (Z[k] + conj Z[N−k])/2, O = (Z[k] − conj Z[N−k])/(2i),
	// X[k] = E + e^{−2πi k/256}·O.
	for k := max(lo, 1); k <= min(hi, toneFFTHalf-1); k++ {
		zr, zi := real(z[k]), imag(z[k])
		cr, ci := real(z[toneFFTHalf-k]), -imag(z[toneFFTHalf-k])
		er, ei := (zr+cr)/2, (zi+ci)/2
		dr, di := (zr-cr)/2, (zi-ci)/2
		or, oi := di, -dr // (dr + i·di)/i
		wr, wi := toneSplitR[k], toneSplitI[k]
		xr := er + wr*or - wi*oi
		xi := ei + wr*oi + wi*or
		pow[k] = xr*xr + xi*xi
	}
}
