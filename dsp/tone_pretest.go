package dsp

import "math"

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
			r.PeriodCV <= pretestStrictPeriodCV)
}

// tonePretest measures one frame. It stops early once the energy is below
// the floor, which is the common case for silence.
func tonePretest(x []float64) tonePretestResult {
	var r tonePretestResult
	n := len(x)
	if n < 3 {
		return r
	}
	// A channel's DC offset is no part of any tone: measure around the mean.
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(n)
	var r0, r1, r2, p1, p2 float64
	for _, v := range x {
		v -= m
		r0 += v * v
		r1 += v * p1
		r2 += v * p2
		p2, p1 = p1, v
	}
	r.MeanSquare = r0 / float64(n)
	if r.MeanSquare < pretestMinMeanSquare {
		return r
	}

	// Order-2 LPC via the normal equations.
	r.LPCError = 1
	if den := r0*r0 - r1*r1; den > 0 {
		a1 := r1 * (r0 - r2) / den
		a2 := (r0*r2 - r1*r1) / den
		r.LPCError = math.Max(0, (r0-a1*r1-a2*r2)/r0)
	}

	// Upward crossings of +h after having been below −h, located by linear
	// interpolation; their spacing is one period of the dominant tone.
	h := pretestHysteresis * math.Sqrt(r.MeanSquare)
	armed := false
	prevPos := -1.0
	var sum, sumSq float64
	for i := 1; i < n; i++ {
		v := x[i] - m
		if v < -h {
			armed = true
			continue
		}
		if armed && v >= h {
			p := x[i-1] - m
			pos := float64(i-1) + (h-p)/(v-p)
			if prevPos >= 0 {
				d := pos - prevPos
				sum += d
				sumSq += d * d
				r.Periods++
			}
			prevPos = pos
			armed = false
		}
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
