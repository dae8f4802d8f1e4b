package dsp

import "math"

// A 256-point real FFT specialised for the tone detector's hops. gonum's
// general fftpack plan costs ~4.4 µs per transform; candidate frames run two
// of them, which made the spectral stage the largest cost per frame over real
// audio. This one packs the 256 real samples into 128 complex ones (even
// samples real, odd imaginary), runs an iterative radix-2 transform over
// split real/imaginary arrays with precomputed twiddles and bit reversal,
// and unpacks only the bins the detector reads, straight to power. It is
// exact to float rounding (TestToneFFTMatchesGonum).
const (
	toneFFTHalf     = toneWin / 2 // complex points
	toneFFTHalfBits = 7
)

type toneFFT struct {
	re, im   [toneFFTHalf]float64
	twr, twi [toneFFTHalf / 2]float64 // e^{−2πi m/128}
	spr, spi [toneFFTHalf + 1]float64 // e^{−2πi k/256}, for the real split
	rev      [toneFFTHalf]uint8       // 7-bit bit reversal
}

func newToneFFT() *toneFFT {
	f := &toneFFT{}
	for m := range f.twr {
		a := -2 * math.Pi * float64(m) / toneFFTHalf
		f.twr[m], f.twi[m] = math.Cos(a), math.Sin(a)
	}
	for k := range f.spr {
		a := -2 * math.Pi * float64(k) / toneWin
		f.spr[k], f.spi[k] = math.Cos(a), math.Sin(a)
	}
	for i := range f.rev {
		r := 0
		for b := 0; b < toneFFTHalfBits; b++ {
			if i&(1<<b) != 0 {
				r |= 1 << (toneFFTHalfBits - 1 - b)
			}
		}
		f.rev[i] = uint8(r)
	}
	return f
}

// power writes |X[k]|² of the 256-point DFT of x into pow[k] for lo ≤ k ≤ hi
// (1 ≤ lo ≤ hi ≤ 127), X[k] = Σ x[n]·e^{−2πi kn/256} as gonum defines it.
func (f *toneFFT) power(x *[toneWin]float64, pow *[toneBins]float64, lo, hi int) {
	re, im := &f.re, &f.im
	for m := 0; m < toneFFTHalf; m++ {
		j := f.rev[m] & (toneFFTHalf - 1)
		re[j], im[j] = x[2*m], x[2*m+1]
	}
	// First stage (twiddle 1) on its own: no multiplications.
	for a := 0; a < toneFFTHalf; a += 2 {
		ar, ai, br, bi := re[a], im[a], re[a+1], im[a+1]
		re[a], im[a], re[a+1], im[a+1] = ar+br, ai+bi, ar-br, ai-bi
	}
	for size := 4; size <= toneFFTHalf; size <<= 1 {
		half := size >> 1
		step := toneFFTHalf / size
		for start := 0; start < toneFFTHalf; start += size {
			for j := 0; j < half; j++ {
				wr, wi := f.twr[(j*step)&(toneFFTHalf/2-1)], f.twi[(j*step)&(toneFFTHalf/2-1)]
				a := (start + j) & (toneFFTHalf - 1)
				b := (a + half) & (toneFFTHalf - 1)
				tr := wr*re[b] - wi*im[b]
				ti := wr*im[b] + wi*re[b]
				re[b], im[b] = re[a]-tr, im[a]-ti
				re[a] += tr
				im[a] += ti
			}
		}
	}
	// Split: E = (Z[k] + conj Z[N−k])/2, O = (Z[k] − conj Z[N−k])/(2i),
	// X[k] = E + e^{−2πi k/256}·O.
	for k := max(lo, 1); k <= min(hi, toneFFTHalf-1); k++ {
		zr, zi := re[k], im[k]
		cr, ci := re[toneFFTHalf-k], -im[toneFFTHalf-k]
		er, ei := (zr+cr)/2, (zi+ci)/2
		dr, di := (zr-cr)/2, (zi-ci)/2
		or, oi := di, -dr // (dr + i·di)/i
		wr, wi := f.spr[k], f.spi[k]
		xr := er + wr*or - wi*oi
		xi := ei + wr*oi + wi*or
		pow[k] = xr*xr + xi*xi
	}
}
