package dsp

import (
	"math"
	"math/bits"
)

// The pre-test decides, in well under a microsecond per frame, whether a
// frame could hold a tone at all, so the FFT is spent only where it can
// matter. It must never reject a tone the detector is meant to find (beeps
// at −30 dBFS in 15 dB SNR noise, through G.711), so its thresholds are
// loose; the spectral stage makes the real decision.
const (
	// pretestMinMeanSquare is about −50 dBFS RMS: below it there is no tone
	// worth reporting.
	pretestMinMeanSquare = 100 * 100
	// The standard deviation of the zero-crossing periods may be at most
	// pretestMaxPeriodCV of the mean period plus pretestPeriodSlack samples:
	// crossing-time jitter from noise and 8 kHz sampling is roughly constant
	// in samples, so a 2.5 kHz tone (3.2-sample period) in 15 dB SNR noise
	// shows a CV near 0.1 while a 500 Hz one stays under 0.03. V.21 FSK
	// (1650/1850 Hz) has a CV of ~0.05; speech and noise sit far above.
	pretestMaxPeriodCV = 0.1
	pretestPeriodSlack = 0.25
	// pretestMaxLPCError bounds the normalised residual of an order-2
	// linear predictor. A sinusoid is predicted exactly by two taps; noise
	// at 15 dB SNR lifts the residual to ~0.15 for low tones, while voiced
	// speech mostly sits at 0.25–0.5. Above pretestHighHz the bound is
	// pretestMaxLPCErrorHigh: two taps tuned to a high tone cannot also
	// follow brown noise, whose residual then reaches 0.5 at 15 dB SNR, and
	// speech rarely has a regular crossing rate that high.
	pretestMaxLPCError     = 0.25
	pretestMaxLPCErrorHigh = 0.6
	pretestHighHz          = 1500
	// pretestStrictPeriodCV: periods this regular pass whatever the LPC
	// residual. A clipped, square-ish beep is not a two-tap sinusoid (its
	// residual is ~0.45) but repeats to within 1 %; speech never does.
	pretestStrictPeriodCV = 0.03
	// At SIT's own frequencies (within 2 %) a frame passes with regular
	// periods (CV up to pretestSITPeriodCV) whatever the predictor's
	// residual up to pretestSITLPCError: SIT tones are sent at −24 dBm0,
	// often only 6–10 dB above the line noise, whose residual then exceeds
	// pretestMaxLPCError. Only the whole triplet makes such frames a tone
	// (see tone_special.go), so this buys FFT time, not false tones.
	pretestSITLPCError = 0.55
	pretestSITPeriodCV = 0.08
	// pretestMinHz/pretestMaxHz: the mean crossing rate must correspond to
	// a frequency the detector looks for at all.
	pretestMinHz = 250
	pretestMaxHz = 2700
	// pretestMinPeriods: fewer complete periods than this give no
	// regularity evidence (a 250 Hz tone has 5 per frame).
	pretestMinPeriods = 3
	// pretestHysteresis is the crossing threshold as a fraction of RMS; it
	// keeps white noise riding on a low tone from adding spurious crossings.
	pretestHysteresis = 0.4
)

// tonePretestResult holds the pre-test's measurements for one frame.
type tonePretestResult struct {
	MeanSquare float64 // mean square amplitude around the frame's mean
	Periods    int     // complete periods measured between upward crossings
	PeriodCV   float64 // std/mean of those periods
	PeriodStd  float64 // std of those periods, samples
	PeriodMean float64 // mean period, samples
	FreqHz     float64 // frequency implied by the mean period
	LPCError   float64 // order-2 prediction residual / energy, 0 (sinusoid) … 1 (white)
}

func (r tonePretestResult) pass() bool {
	return r.MeanSquare >= pretestMinMeanSquare &&
		r.Periods >= pretestMinPeriods &&
		r.PeriodStd <= pretestMaxPeriodCV*r.PeriodMean+pretestPeriodSlack &&
		r.FreqHz >= pretestMinHz && r.FreqHz <= pretestMaxHz &&
		(r.LPCError <= pretestMaxLPCError || (r.FreqHz >= pretestHighHz && r.LPCError <= pretestMaxLPCErrorHigh) ||
			r.PeriodCV <= pretestStrictPeriodCV || (r.PeriodCV <= pretestSITPeriodCV && r.LPCError <= pretestSITLPCError && nearSIT(r.FreqHz)))
}

// nearSIT reports whether f is within 2 % of a SIT segment's frequency.
func nearSIT(f float64) bool {
	for _, s := range [...]float64{913.8, 985.2, 1370.6, 1428.5, 1776.7} {
		if f >= s*0.98 && f <= s*1.02 {
			return true
		}
	}
	return false
}

// toneFrameSums are the integer moments of one frame that the pre-test and
// the envelope blocks both need, gathered in a single pass over the int16
// samples. Integer sums are exact (160 samples of int16: |Σx²| < 2^38, the
// scaled lag sums in tonePretest < 2^53), so the mean-removed moments
// derived from them equal a float computation's.
type toneFrameSums struct {
	s          int64                           // Σx
	q          int64                           // Σx²
	blockSum   [FrameSamples / toneBlock]int64 // Σx per 5 ms block
	blockSumSq [FrameSamples / toneBlock]int64 // Σx² per 5 ms block
}

// sumFrame gathers the frame's moments. x must hold FrameSamples samples.
func sumFrame(x []int16, fs *toneFrameSums) {
	blockSums((*[FrameSamples]int16)(x), &fs.blockSum, &fs.blockSumSq)
	var s, q int64
	for b := range fs.blockSum {
		s += fs.blockSum[b]
		q += fs.blockSumSq[b]
	}
	fs.s, fs.q = s, q
}

// blockSumsGo is blockSums in pure Go: the reference for the SSE2 kernel
// (tone_pretest_amd64.s) and the implementation elsewhere.
func blockSumsGo(x *[FrameSamples]int16, s, q *[FrameSamples / toneBlock]int64) {
	for b := range s {
		s[b], q[b] = sumBlock((*[toneBlock]int16)(x[b*toneBlock:]))
	}
}

// sumBlock returns Σx and Σx² of one 5 ms block. Two squares of int16 add
// up to at most 2^31, which fits a uint32, so pairs are summed before
// widening: half the 64-bit adds, no sign extensions. Independent
// accumulators shorten the add chains. The loop walks the block by
// re-slicing rather than indexing: the compiler folds constant offsets into
// sign-extending int16 loads but not a scaled index.
func sumBlock(blk *[toneBlock]int16) (s, q int64) {
	var s0, s1 int32
	var q0, q1 uint64
	for x := blk[:]; len(x) >= 4; x = x[4:] {
		v0, v1, v2, v3 := int32(x[0]), int32(x[1]), int32(x[2]), int32(x[3])
		s0 += v0 + v1
		s1 += v2 + v3
		q0 += uint64(uint32(v0*v0) + uint32(v1*v1))
		q1 += uint64(uint32(v2*v2) + uint32(v3*v3))
	}
	return int64(s0 + s1), int64(q0 + q1)
}

// crossings notes in at the index of each sample of x (after the first)
// at or above hi reached after one below lo, and returns how many.
//
// It is branch-free and has no per-sample dependency chain: on speech and
// noise the crossings come at unpredictable samples, so a branchy scan
// mispredicts, and a sequential armed/fire state machine is a chain of
// dependent operations per sample. Instead each 64-sample word gets two
// bit masks, B (below lo) and A (at or above hi), built independently per
// sample. With M = ^A, the samples through which an armed state persists,
// the sum M + B (+ the previous word's carry) carries from the first B of
// each run of M to the A that ends it: its bits at A positions are exactly
// the firing crossings, and its carry out is the armed state at the end of
// the word.
func crossings(x []int16, lo, hi int32, at *[128]uint8) int32 {
	x = x[:FrameSamples]
	k := int32(0)
	carry := uint64(0)
	for w := 0; w < FrameSamples; w += 64 {
		n := min(64, FrameSamples-w)
		below, above := levelMasks(x[w:w+n], lo, hi)
		if w == 0 {
			// The first sample neither arms nor fires.
			below &^= 1
			above &^= 1
		}
		var sum uint64
		sum, carry = bits.Add64(^above, below, carry)
		for e := sum & above; e != 0; e &= e - 1 {
			at[k&127] = uint8(w + bits.TrailingZeros64(e))
			k++
		}
		if n < 64 {
			break
		}
	}
	return k
}

// levelMasksGo is levelMasks in pure Go (the reference for the SSE2
// kernel): four samples at a time make a nibble with constant shifts, and
// one variable shift places it; the samples are read by re-slicing (see
// sumBlock). A leaf function of its own: inlined into crossings, the loop
// spilled and reloaded registers every sample.
//
//go:noinline
func levelMasksGo(x []int16, lo, hi int32) (below, above uint64) {
	hi--
	x = x[:min(len(x), 64)]
	j := uint(0)
	for ; len(x) >= 4; j, x = j+4, x[4:] {
		b := uint32(int32(x[0])-lo)>>31 | uint32(int32(x[1])-lo)>>31<<1 |
			uint32(int32(x[2])-lo)>>31<<2 | uint32(int32(x[3])-lo)>>31<<3
		below |= uint64(b) << j
		a := uint32(hi-int32(x[0]))>>31 | uint32(hi-int32(x[1]))>>31<<1 |
			uint32(hi-int32(x[2]))>>31<<2 | uint32(hi-int32(x[3]))>>31<<3
		above |= uint64(a) << j
	}
	for ; len(x) > 0; j, x = j+1, x[1:] {
		v := int32(x[0])
		below |= uint64(uint32(v-lo)>>31) << j
		above |= uint64(uint32(hi-v)>>31) << j
	}
	return below, above
}

// lagSums returns Σx[i]x[i-1] and Σx[i]x[i-2] over the frame.
func lagSums(x []int16) (p1, p2 int64) {
	x = x[:FrameSamples]
	prev1, prev2 := int64(x[1]), int64(x[0])
	p1 = prev1 * prev2
	for _, v16 := range x[2:] {
		v := int64(v16)
		p1 += v * prev1
		p2 += v * prev2
		prev2, prev1 = prev1, v
	}
	return p1, p2
}

// tonePretest measures one frame (FrameSamples samples) from its moments
// fs, cheapest evidence first: the energy floor (silence ends there), then
// the whole-sample crossing periods (most speech and noise end there, with
// LPCError left NaN: not measured), and only then the linear predictor and
// the interpolated crossings.
func tonePretest(x []int16, fs *toneFrameSums) tonePretestResult {
	var r tonePretestResult
	const n = FrameSamples
	x = x[:n]
	// A channel's DC offset is no part of any tone: measure around the mean
	// m = S/n. With the frame's first/last samples a, b (the lag sums start
	// at i = 1 and 2), the mean-removed autocorrelations scaled by n² are
	//   n²r0 = n(nQ − S²)
	//   n²r1 = n²P1 − nS(2S − x0 − x[n−1]) + (n−1)S²
	//   n²r2 = n²P2 − nS(2S − x0 − x1 − x[n−2] − x[n−1]) + (n−2)S²
	// exact in int64 for int16 input.
	S := fs.s
	x0, x1, xl1, xl2 := int64(x[0]), int64(x[1]), int64(x[n-1]), int64(x[n-2])
	r0 := float64(n * (n*fs.q - S*S))
	r.MeanSquare = r0 / (n * n * n)
	if r.MeanSquare < pretestMinMeanSquare {
		return r
	}
	r.LPCError = math.NaN()
	// Upward crossings of +h after having been below −h; their spacing is
	// one period of the dominant tone. The thresholds m ± h become integer
	// ones (x < m−h ⇔ x < ⌈m−h⌉ for integer x), so the scan over the
	// samples compares integers and only notes where crossings happen.
	m := float64(S) / n
	h := pretestHysteresis * math.Sqrt(r.MeanSquare)
	lo := int32(math.Ceil(m - h))
	hi := int32(math.Ceil(m + h))
	var at [128]uint8 // sample index of each crossing (≤ 79: one per 2 samples)
	k := crossings(x, lo, hi, &at)
	if k < pretestMinPeriods+1 {
		r.Periods = max(0, int(k)-1)
		return r
	}
	// Interpolation moves each crossing by less than one sample, so each
	// period by less than one sample and the periods' standard deviation by
	// at most one: whole-sample periods that are irregular (or a rate out
	// of range) beyond that margin settle the frame without a division.
	// Speech and noise mostly end here.
	var isum, isq int64
	for j := int32(1); j < k; j++ {
		d := int64(at[j]) - int64(at[j-1])
		isum += d
		isq += d * d
	}
	np := float64(k - 1)
	imean := float64(isum) / np
	istd := math.Sqrt(math.Max(0, float64(isq)/np-imean*imean))
	if istd-1 > pretestMaxPeriodCV*(imean+1)+pretestPeriodSlack ||
		SampleRate/(imean+1) > pretestMaxHz || SampleRate/math.Max(imean-1, 1) < pretestMinHz {
		r.Periods = int(k) - 1
		r.PeriodMean, r.PeriodStd = imean, istd
		r.PeriodCV = istd / imean
		r.FreqHz = SampleRate / imean
		return r
	}
	p1, p2 := lagSums(x)
	r1 := float64(n*n*p1 - n*S*(2*S-x0-xl1) + (n-1)*S*S)
	r2 := float64(n*n*p2 - n*S*(2*S-x0-x1-xl1-xl2) + (n-2)*S*S)

	// Order-2 LPC via the normal equations (the residual ratio is
	// independent of the n² scale).
	r.LPCError = 1
	if den := r0*r0 - r1*r1; den > 0 {
		a1 := r1 * (r0 - r2) / den
		a2 := (r0*r2 - r1*r1) / den
		r.LPCError = math.Max(0, (r0-a1*r1-a2*r2)/r0)
	}

	// Locate the crossings by linear interpolation between the samples
	// either side of +h.
	prevPos := -1.0
	var sum, sumSq float64
	for _, i := range at[:k] {
		p := float64(x[i-1]) - m
		pos := float64(i-1) + (h-p)/(float64(x[i])-m-p)
		if prevPos >= 0 {
			d := pos - prevPos
			sum += d
			sumSq += d * d
			r.Periods++
		}
		prevPos = pos
	}
	if r.Periods > 0 {
		mean := sum / float64(r.Periods)
		variance := math.Max(0, sumSq/float64(r.Periods)-mean*mean)
		r.PeriodStd = math.Sqrt(variance)
		r.PeriodMean = mean
		r.PeriodCV = r.PeriodStd / mean
		r.FreqHz = SampleRate / mean
	}
	return r
}
