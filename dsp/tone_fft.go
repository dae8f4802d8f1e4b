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
	re, im [toneFFTHalf]float64
	// Twiddles stage by stage: the stage of butterfly span h uses
	// twr/twi[h+j] = e^{−2πi j/(2h)}, j < h, read in order.
	twr, twi [toneFFTHalf]float64
	spr, spi [toneFFTHalf + 1]float64 // e^{−2πi k/256}, for the real split
	rev      [toneFFTHalf]uint8       // 7-bit bit reversal
}

func newToneFFT() *toneFFT {
	f := &toneFFT{}
	for h := 1; h < toneFFTHalf; h <<= 1 {
		for j := 0; j < h; j++ {
			a := -math.Pi * float64(j) / float64(h)
			f.twr[h+j], f.twi[h+j] = math.Cos(a), math.Sin(a)
		}
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
	// The first two stages (twiddles 1 and −i) as one radix-4 step: no
	// multiplications.
	for a := 0; a < toneFFTHalf; a += 4 {
		r0, i0, r1, i1 := re[a], im[a], re[a+1], im[a+1]
		r2, i2, r3, i3 := re[a+2], im[a+2], re[a+3], im[a+3]
		// size 2
		ar, ai, br, bi := r0+r1, i0+i1, r0-r1, i0-i1
		cr, ci, dr, di := r2+r3, i2+i3, r2-r3, i2-i3
		// size 4: (a, c) with twiddle 1, (b, d) with twiddle −i
		re[a], im[a] = ar+cr, ai+ci
		re[a+2], im[a+2] = ar-cr, ai-ci
		re[a+1], im[a+1] = br+di, bi-dr
		re[a+3], im[a+3] = br-di, bi+dr
	}
	for half := 4; half < toneFFTHalf; half <<= 1 {
		twr := f.twr[half : 2*half : 2*half]
		twi := f.twi[half : 2*half : 2*half]
		for start := 0; start < toneFFTHalf; start += 2 * half {
			lo := re[start : start+half : start+half]
			loi := im[start : start+half : start+half]
			hi := re[start+half : start+2*half : start+2*half]
			hii := im[start+half : start+2*half : start+2*half]
			for j := range lo {
				wr, wi := twr[j], twi[j]
				tr := wr*hi[j] - wi*hii[j]
				ti := wr*hii[j] + wi*hi[j]
				hi[j], hii[j] = lo[j]-tr, loi[j]-ti
				lo[j] += tr
				loi[j] += ti
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
