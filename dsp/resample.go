package dsp

import (
	"errors"
	"fmt"
	"math"
)

// Resampler converts a mono int16 stream at any rate to SampleRate (8 kHz).
//
// It is a rational polyphase FIR: conceptually the input is upsampled by L
// (zeros inserted), low-pass filtered at the upsampled rate and decimated by
// M, where L/M = 8000/inRate in lowest terms. Only the taps that meet
// non-zero input samples are ever computed, so each output sample costs one
// K-tap dot product with K ≈ the filter length at the input rate.
//
// The prototype is a Kaiser-windowed sinc with passband edge 3.4 kHz
// (telephone band), stopband edge at 4 kHz (the new Nyquist) and ~80 dB
// stopband attenuation, so anything that would alias into the 0–4 kHz band
// is at least 60 dB down. When the input rate is below 8 kHz the band edges
// scale to the input's Nyquist instead (the filter then removes imaging).
//
// Rates without a small exact ratio to 8 kHz (a recorder's 44101 Hz, a
// prime rate) would need an enormous polyphase table; they use the nearest
// ratio with a small L instead, off by at most 0.1% in rate (a pitch and
// tempo error no detector notices).
//
// The filter's group delay is compensated: output sample m is aligned with
// input time m·inRate/8000, and Flush emits the tail, so a complete stream
// of N input samples yields ceil(N·8000/inRate) output samples.
//
// All buffers are allocated by NewResampler; Process and Flush allocate
// nothing. A Resampler is not safe for concurrent use (one per stream).
type Resampler struct {
	inRate int
	l, m   int // upsample L, decimate M
	taps   int // K: taps per polyphase branch
	// coef[p*taps+k] is prototype tap p+k·L, scaled by L, stored reversed
	// within each branch so the dot product walks the history forward.
	coef []float32
	// hist holds input samples as float32; the first taps-1 are history.
	hist  []float32
	n     int // valid samples in hist
	idx   int // hist index of the newest input sample the next output uses
	phase int // polyphase branch of the next output

	inTotal, outTotal int64
}

// Resampler limits.
const (
	// MaxResampleRate is the highest input rate accepted (768 kHz covers
	// every rate a recording tool writes).
	MaxResampleRate = 768000
	// MinResampleRate is the lowest input rate accepted.
	MinResampleRate = 1000
	// maxCoefs bounds the polyphase table (rates that share no large
	// common factor with 8000 need many branches).
	maxCoefs = 1 << 18
	// resampleBlock is how many input samples are copied in per refill.
	resampleBlock = 1024
	// stopbandDB is the Kaiser design target.
	stopbandDB = 80.0
)

// ErrResampleRate reports an input rate the resampler cannot handle.
var ErrResampleRate = errors.New("dsp: unsupported resample rate")

// NewResampler builds a resampler from inRate to SampleRate.
func NewResampler(inRate int) (*Resampler, error) {
	if inRate < MinResampleRate || inRate > MaxResampleRate {
		return nil, fmt.Errorf("%w: %d Hz (want %d..%d)", ErrResampleRate, inRate, MinResampleRate, MaxResampleRate)
	}
	l, m, err := resampleRatio(inRate)
	if err != nil {
		return nil, err
	}
	r := &Resampler{inRate: inRate, l: l, m: m}
	if r.l == 1 && r.m == 1 {
		// Same rate: Process is a copy; keep one slot so Flush logic works.
		r.taps = 1
		r.coef = []float32{1}
		r.hist = make([]float32, resampleBlock)
		return r, nil
	}

	// Band edges in Hz, at the lower of the two Nyquist frequencies.
	nyq := float64(min(inRate, SampleRate)) / 2
	fPass := nyq * 0.85
	fStop := nyq
	upRate := float64(inRate) * float64(r.l)
	fc := (fPass + fStop) / 2 / upRate           // cutoff, cycles per upsampled sample
	dw := 2 * math.Pi * (fStop - fPass) / upRate // transition width, rad/sample
	beta := 0.1102 * (stopbandDB - 8.7)
	n := int(math.Ceil((stopbandDB-8)/(2.285*dw))) + 1
	k := (n + r.l - 1) / r.l
	if k < 2 {
		k = 2
	}
	if k*r.l > maxCoefs {
		return nil, fmt.Errorf("%w: %d Hz needs %d filter taps (limit %d)", ErrResampleRate, inRate, k*r.l, maxCoefs)
	}
	n = k * r.l // pad the prototype so every branch has exactly k taps
	r.taps = k
	r.coef = make([]float32, n)
	// Centre the filter on a whole upsampled step so the delay Reset
	// compensates is exact (a half step would be a phase error of ~-50 dB
	// at 3 kHz for the 44.1 kHz family); with an even n the last tap is
	// then outside the window and zero.
	center := float64((n - 1) / 2)
	i0b := besselI0(beta)
	for j := 0; j < n; j++ {
		x := float64(j) - center
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		ratio := x / center
		w := 0.0
		if ratio >= -1 && ratio <= 1 {
			w = besselI0(beta*math.Sqrt(1-ratio*ratio)) / i0b
		}
		h := sinc * w * float64(r.l)
		// Branch p = j mod L holds taps j = p + k·L at position k; stored
		// reversed so coef[p*K + (K-1-k)] multiplies hist[idx-k].
		p, kk := j%r.l, j/r.l
		r.coef[p*k+(k-1-kk)] = float32(h)
	}
	r.hist = make([]float32, k-1+resampleBlock)
	r.Reset()
	return r, nil
}

// tapsPerBranch estimates the Kaiser filter length at the input rate,
// which is also the number of taps per polyphase branch whatever L is.
func tapsPerBranch(inRate int) int {
	nyq := float64(min(inRate, SampleRate)) / 2
	dw := 2 * math.Pi * (nyq * 0.15) / float64(inRate)
	return int(math.Ceil((stopbandDB-8)/(2.285*dw))) + 2
}

// maxRatioError is the largest relative rate error accepted when a rate
// has no small exact ratio to 8 kHz (e.g. 44101 Hz from a drifting
// recorder): 0.1% moves a 5 s timer by 5 ms.
const maxRatioError = 1e-3

// resampleRatio returns L/M = SampleRate/inRate in lowest terms, or, when
// that needs a polyphase table beyond maxCoefs, the smallest-L ratio within
// maxRatioError of it.
func resampleRatio(inRate int) (l, m int, err error) {
	g := gcd(inRate, SampleRate)
	l, m = SampleRate/g, inRate/g
	k := tapsPerBranch(inRate)
	if k*l <= maxCoefs {
		return l, m, nil
	}
	want := float64(inRate) / SampleRate
	for l2 := 1; l2*k <= maxCoefs; l2++ {
		m2 := int(math.Round(want * float64(l2)))
		if m2 >= 1 && math.Abs(float64(m2)/float64(l2)-want)/want <= maxRatioError {
			return l2, m2, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: %d Hz has no ratio to %d Hz within %g", ErrResampleRate, inRate, SampleRate, maxRatioError)
}

// Reset drops all state so the resampler can start a new stream.
func (r *Resampler) Reset() {
	clear(r.hist)
	r.inTotal, r.outTotal = 0, 0
	if r.l == 1 && r.m == 1 {
		r.n, r.idx, r.phase = 0, 0, 0
		return
	}
	// History starts as taps-1 zeros (silence before the stream). The first
	// output is centred on input 0: it sits (N-1)/2 upsampled steps after
	// the newest tap, which with zero-based input index q means
	// t = (N-1)/2 = i·L + p.
	r.n = r.taps - 1
	d := (r.taps*r.l - 1) / 2
	r.idx = r.taps - 1 + d/r.l
	r.phase = d % r.l
}

// InRate is the input rate the resampler was built for.
func (r *Resampler) InRate() int { return r.inRate }

// MaxOut is the most output samples Process can produce for nIn input
// samples; size dst with it.
func (r *Resampler) MaxOut(nIn int) int {
	return int((int64(nIn)*int64(r.l)+int64(r.m)-1)/int64(r.m)) + 2
}

// Process resamples src and writes the output to dst, returning the number
// of samples written. Input is consumed completely; dst should have room
// for MaxOut(len(src)) samples — output beyond len(dst) is dropped.
func (r *Resampler) Process(dst []int16, src []int16) int {
	if r.l == 1 && r.m == 1 {
		n := copy(dst, src)
		r.inTotal += int64(len(src))
		r.outTotal += int64(n)
		return n
	}
	r.inTotal += int64(len(src))
	out := 0
	for len(src) > 0 {
		r.compact()
		room := len(r.hist) - r.n
		c := min(room, len(src))
		h := r.hist[r.n : r.n+c]
		for i, s := range src[:c] {
			h[i] = float32(s)
		}
		r.n += c
		src = src[c:]
		out += r.drain(dst[out:])
	}
	return out
}

// Flush emits the filter's tail — the outputs that need input beyond the
// end of the stream, computed as if the stream were followed by silence —
// and resets the resampler. It returns the number of samples written.
func (r *Resampler) Flush(dst []int16) int {
	if r.l == 1 && r.m == 1 {
		r.Reset()
		return 0
	}
	want := (r.inTotal*int64(r.l) + int64(r.m) - 1) / int64(r.m)
	out := 0
	for r.outTotal < want && out < len(dst) {
		r.compact()
		room := len(r.hist) - r.n
		clear(r.hist[r.n:])
		r.n += room
		limit := min(len(dst), out+int(want-r.outTotal))
		out += r.drain(dst[out:limit])
	}
	r.Reset()
	return out
}

// compact moves the history still needed to the front of hist.
func (r *Resampler) compact() {
	drop := r.idx - (r.taps - 1)
	if drop <= 0 {
		return
	}
	drop = min(drop, r.n)
	copy(r.hist, r.hist[drop:r.n])
	r.n -= drop
	r.idx -= drop
}

// drain computes every output whose newest tap is already in hist.
func (r *Resampler) drain(dst []int16) int {
	out := 0
	k := r.taps
	for r.idx < r.n && out < len(dst) {
		x := r.hist[r.idx-k+1 : r.idx+1]
		c := r.coef[r.phase*k : r.phase*k+k]
		var acc0, acc1, acc2, acc3 float32
		j := 0
		for ; j+4 <= len(c); j += 4 {
			acc0 += c[j] * x[j]
			acc1 += c[j+1] * x[j+1]
			acc2 += c[j+2] * x[j+2]
			acc3 += c[j+3] * x[j+3]
		}
		for ; j < len(c); j++ {
			acc0 += c[j] * x[j]
		}
		dst[out] = clamp16(acc0 + acc1 + acc2 + acc3)
		out++
		r.outTotal++
		r.phase += r.m
		r.idx += r.phase / r.l
		r.phase %= r.l
	}
	if out == len(dst) {
		// dst is full: skip the outputs we have no room for so the stream
		// position stays right (documented: they are dropped).
		for r.idx < r.n {
			r.outTotal++
			r.phase += r.m
			r.idx += r.phase / r.l
			r.phase %= r.l
		}
	}
	return out
}

func clamp16(v float32) int16 {
	v += 0.5 * sign32(v) // round half away from zero
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

func sign32(v float32) float32 {
	if v < 0 {
		return -1
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the β values a Kaiser window uses).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}
