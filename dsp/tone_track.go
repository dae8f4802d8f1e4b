package dsp

import "math"

// Tracking: hops join runs; runs become beeps, or are held until they can be
// told apart from fax and SIT tones.
const (
	// Run continuity. A hop continues a run if it lands within
	// max(trackTolHz, trackTolRel·f) of the frequency predicted from the
	// run's slope (least squares over trackSlopeHops); a run survives
	// trackMaxMiss non-tonal hops (a fax CED phase reversal spoils two or
	// three windows); behind a lossy codec a confirmed (reported or held)
	// tone survives trackMaxMissReported (Opus concealment and the decoder's
	// ramp back in can blank a tone for ~80 ms). A confirmed tone may wander
	// by up to trackTolReturnRel (Opus concealment detunes a tone by ~2.5 %).
	trackTolHz           = 8.0
	trackTolRel          = 0.012
	trackTolReturnRel    = 0.03
	trackSlopeHops       = 5
	trackMaxSlope        = 60.0 // Hz per 10 ms hop: sweeps up to 6 kHz/s
	trackMaxMiss         = 4
	trackMaxMissReported = 10

	// Confirmation. A run is a beep once it has trackMinHops tonal hops and
	// trackMinDurMs of tone since its onset: every ≥ 80 ms beep gets there
	// even when a codec eats its first 20 ms, and 32 ms windows land the
	// confirmation ~70–100 ms after the true start; a click or a syllable
	// does not. The run's own windows must span trackMinSpanMs (first to last
	// hop end). A tone with harmonics must show trackHarmDurMs of its own
	// hops (trackHarmLowDurMs below trackLowHz, where only voices make such
	// tones).
	trackMinHops      = 4
	trackMinDurMs     = 60
	trackMinSpanMs    = 30
	trackHarmDurMs    = 110
	trackHarmLowDurMs = 150
	trackLowHz        = 450.0 // top of the sung-fundamental range

	// Shape. A beep holds its frequency or sweeps along a straight line. On a
	// clean channel (PCM, G.711) the whole run, bar its first trackSkipHops
	// (windows straddling the start), must stay within
	// max(trackSteadyHz, trackSteadyRel·f): vibrato (±1–3 %) holds still
	// only near its turning points. Behind a lossy codec (SetLossyCodec) the
	// latest trackShapeHops hops, trimmed of their extremes once
	// (trackTrimHops), may wobble by trackSteadyRelHigh. A tone with
	// harmonics must never wander more than trackHarmSteadyHz nor slope more
	// than trackHarmMaxSlope Hz per hop. The peak power may vary by at most
	// trackMaxPowerRatio (9 dB) across the window.
	trackSteadyHz      = 2.0
	trackSteadyRel     = 0.003
	trackSteadyRelHigh = 0.01
	trackHarmSteadyHz  = 1.5
	// trackHarmSteadyRelLossy: behind a lossy codec a tone with harmonics
	// may wander 0.6 % (a clipped 400 Hz beep through Opus at 8 kbit/s:
	// ±1 Hz); a music bed's note through the same codec wanders more.
	trackHarmSteadyRelLossy = 0.006
	trackHarmMaxSlope       = 1.0
	trackMaxPowerRatio      = 8.0
	trackSkipHops           = 2
	trackTrimHops           = 6
	trackShapeHops          = 10
	trackKeep               = 16 // hops of a run's track kept (ring)
	// trackWobbleRel: a run that loses a tone gliding within this of its
	// frequency (vibrato turning faster than the prediction) hands its
	// unsteadiness on to the run that picks the tone up.
	trackWobbleRel = 0.03
	// A sweep must last sweepMinDurMs (≥ sweepMinHops hops), move at least
	// sweepMinSlope Hz per hop, stay within max(sweepMaxResidHz,
	// sweepMaxResidRel·(the window's sweep)) RMS of a line (an exponential
	// glide bends a little), and keep its rate within sweepMaxRateRatio
	// across the window's thirds: vibrato reverses or stalls in some third.
	sweepMinDurMs     = 110
	sweepMinHops      = 9
	sweepMinSlope     = 2.0
	sweepMaxResidHz   = 1.0
	sweepMaxResidRel  = 0.05
	sweepMaxRateRatio = 1.6
	// chainGapSamples: a good but short pure run followed within this gap by
	// another one is a stepped beep; the second inherits the first's onset.
	chainGapSamples = 400
)

// toneRun is a run of tonal hops at one (possibly sweeping) frequency.
type toneRun struct {
	open     bool
	firstEnd int64   // end sample of the first hop
	firstF   float64 // frequency at the first hop
	onset    int64   // sample at which the tone started
	lastEnd  int64   // end sample of the latest matching hop
	// chainFirstEnd/chainF: first hop and frequency of the run this one
	// continues (a stepped beep), from which its onset is measured.
	chainFirstEnd int64
	chainF        float64
	hops          int
	prevHops      int // hops of the runs this one is chained to
	harmHops      int
	unsteady      int // hops whose envelope was not steady
	runFMin       float64
	runFMax       float64
	dual          bool // a hidden second tone was found: never a beep
	wobbly        bool // continues a run that wandered in frequency (see step)
	misses        int
	f, slope      float64
	// The latest trackKeep tonal hops (ring, indexed by hop count), for the
	// shape test's recent window and the predicting slope.
	ringF     [trackKeep]float64 // frequency
	ringX     [trackKeep]float64 // position in hops since the run's first hop
	ringP     [trackKeep]float64 // peak power
	qualified bool
	hold      holdKind
	sitStage  int // 1..3 when the run is a candidate SIT segment
	// relaxedHops counts hops admitted only as a possible first SIT
	// segment (see step); a run that leans on them is no beep.
	relaxedHops int
	reported    ToneKind // kind announced with Detected, awaiting Ended
	silent      bool     // absorbed by a failed SIT: reports nothing
}

type toneChain struct {
	firstEnd int64   // first hop of the chain's first run, for its onset
	f        float64 // that run's frequency
	valid    bool
	onset    int64
	lastEnd  int64
	hops     int
}

// matches reports whether a tonal hop at f continues the run.
func (r *toneRun) matches(f float64) bool {
	tol := max(trackTolHz, trackTolRel*f)
	if r.hops == 1 {
		// No slope yet: the second hop may set one, up to a sweep's maximum.
		tol += trackMaxSlope * float64(r.misses+1)
	}
	if r.reported != ToneNone || r.qualified {
		// A confirmed tone may come back from a dropout, or be concealed
		// by Opus, slightly detuned; a real step is larger.
		tol = max(tol, trackTolReturnRel*f)
	}
	pred := r.f
	if math.Abs(r.slope) >= sweepMinSlope {
		pred += r.slope * float64(r.misses+1)
	}
	return math.Abs(f-pred) <= tol
}

// add appends a matching hop to the run.
func (r *toneRun) add(hp *toneHopInfo, end int64) {
	r.f = hp.freq
	r.misses = 0
	r.lastEnd = end
	if hp.class == hopHarmonic {
		r.harmHops++
	}
	if !hp.steady {
		r.unsteady++
	}
	// The whole-run range skips the first hops, whose windows may still
	// straddle the tone's start.
	if r.hops == trackSkipHops {
		r.runFMin, r.runFMax = hp.freq, hp.freq
	}
	if r.hops >= trackSkipHops {
		r.runFMin, r.runFMax = min(r.runFMin, hp.freq), max(r.runFMax, hp.freq)
	}
	i := r.hops % trackKeep
	r.ringF[i] = hp.freq
	r.ringX[i] = float64(end-r.firstEnd) / toneHop
	r.ringP[i] = hp.power
	r.hops++
	// The slope that predicts the next hop: least squares over the latest
	// few hops, so one noisy estimate (a codec's wobble) does not throw the
	// prediction off the way a last difference would.
	if r.hops >= 2 {
		w := r.window(trackSlopeHops)
		b, _ := w.fit()
		r.slope = max(-trackMaxSlope, min(trackMaxSlope, b))
	}
}

// harmonic reports whether the run is judged as a tone with harmonics: in
// the sung range any harmonic hop makes it one; above, most of its hops
// must be (a lone harmonic-looking hop in a glide or behind a codec is not
// enough).
func (r *toneRun) harmonic() bool {
	return r.harmHops > 0 && (r.f < trackLowHz || 2*r.harmHops > r.hops)
}

// toneWindow is the recent part of a run's track the shape test judges.
type toneWindow struct {
	n          int
	x, f       [trackKeep]float64
	fMin, fMax float64
	pMin, pMax float64
}

func (r *toneRun) window(m int) toneWindow {
	var w toneWindow
	w.n = min(r.hops, m, trackKeep)
	w.fMin, w.pMin = math.Inf(1), math.Inf(1)
	// fMin/fMax are trimmed once both ways when the window is long enough:
	// one hop of a window straddling the onset, or a noise burst, must not
	// decide whether a tone is steady; vibrato moves every hop.
	lo1, lo2, hi1, hi2 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for k := 0; k < w.n; k++ {
		i := (r.hops - w.n + k) % trackKeep
		f := r.ringF[i]
		w.x[k], w.f[k] = r.ringX[i], f
		if f < lo1 {
			lo1, lo2 = f, lo1
		} else if f < lo2 {
			lo2 = f
		}
		if f > hi1 {
			hi1, hi2 = f, hi1
		} else if f > hi2 {
			hi2 = f
		}
		w.pMin, w.pMax = min(w.pMin, r.ringP[i]), max(w.pMax, r.ringP[i])
	}
	w.fMin, w.fMax = lo1, hi1
	if w.n >= trackTrimHops {
		w.fMin, w.fMax = lo2, hi2
	}
	return w
}

// fit returns the least-squares slope (Hz per hop) of the window's track
// and the RMS residual around that line.
func (w *toneWindow) fit() (slope, resid float64) {
	n := float64(w.n)
	if w.n < 2 {
		return 0, 0
	}
	var mx, my float64
	for k := 0; k < w.n; k++ {
		mx += w.x[k]
		my += w.f[k]
	}
	mx, my = mx/n, my/n
	var sxx, sxy, syy float64
	for k := 0; k < w.n; k++ {
		dx, dy := w.x[k]-mx, w.f[k]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx > 0 {
		slope = sxy / sxx
	}
	return slope, math.Sqrt(max(0, (syy-slope*sxy)/n))
}

// steady reports whether the run recently held one frequency (no sweep), as
// fax and SIT tones do; behind a lossy codec with the codec's wobble allowed.
func (r *toneRun) steady(lossy bool) bool {
	w := r.window(trackShapeHops)
	b, _ := w.fit()
	rel, maxSlope := trackSteadyRel, trackHarmMaxSlope
	if lossy {
		rel, maxSlope = trackSteadyRelHigh, sweepMinSlope
	}
	return math.Abs(b) <= maxSlope && w.fMax-w.fMin <= max(trackSteadyHz, rel*r.f)
}

// shapeOK checks the run's recent track. A beep either holds its frequency
// (steady) or sweeps along a straight line at a constant rate; vibrato,
// a singer's drift or a warbling tone does neither. Tones with harmonics and
// tones in the sung-fundamental range must be steady.
func (r *toneRun) shapeOK(lossy bool) bool {
	w := r.window(trackShapeHops)
	if w.pMin <= 0 || w.pMax/w.pMin > trackMaxPowerRatio {
		return false
	}
	harm := r.harmonic()
	low := harm || r.f < trackLowHz
	// A clean channel (PCM, G.711) delivers a beep's frequency to a fraction
	// of a hertz, and the whole run must hold it: a flute's or singer's
	// vibrato holds still only near its turning points. Behind a lossy codec
	// (Opus: pitch drift, concealment) a wobble of up to 1 % is excused and
	// only the latest window is judged.
	rel := trackSteadyRel
	if lossy && !low {
		rel = trackSteadyRelHigh
	}
	b, resid := w.fit()
	if harm {
		// A tone with harmonics is a beep only if it never wandered: a
		// sustained vowel or hum holds still for 100 ms now and then.
		if lossy {
			// Behind a codec, the latest window (trimmed of its extremes)
			// is judged, with the codec's wobble allowed.
			return math.Abs(b) <= trackHarmMaxSlope && w.fMax-w.fMin <= max(trackHarmSteadyHz, trackHarmSteadyRelLossy*r.f)
		}
		return math.Abs(b) <= trackHarmMaxSlope && r.runFMax-r.runFMin <= trackHarmSteadyHz
	}
	steadyTol := max(trackSteadyHz, rel*r.f)
	if !lossy && (r.wobbly || r.runFMax-r.runFMin > steadyTol) && math.Abs(b) < sweepMinSlope {
		return false
	}
	if w.fMax-w.fMin <= steadyTol {
		return true
	}
	if low || r.prevHops > 0 {
		return false
	}
	return r.sweepOK(&w, b, resid)
}

// sweepOK accepts a linear sweep: long enough to judge, fast enough to be
// deliberate, straight, and at the same rate in each third of the window.
func (r *toneRun) sweepOK(w *toneWindow, b, resid float64) bool {
	n := w.n
	if n < sweepMinHops || samplesToMs(r.lastEnd-r.onset) < sweepMinDurMs {
		return false
	}
	if math.Abs(b) < sweepMinSlope || resid > max(sweepMaxResidHz, sweepMaxResidRel*math.Abs(b)*float64(n)) {
		return false
	}
	lo, hi := math.Inf(1), 0.0
	for k := 0; k < 3; k++ {
		sl := segmentSlope(w.x[k*n/3:(k+1)*n/3], w.f[k*n/3:(k+1)*n/3])
		if sl*b <= 0 {
			return false
		}
		lo = min(lo, math.Abs(sl))
		hi = max(hi, math.Abs(sl))
	}
	return hi <= sweepMaxRateRatio*lo
}

// segmentSlope is the least-squares slope of y over x.
func segmentSlope(x, y []float64) float64 {
	n := float64(len(x))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	den := n*sxx - sx*sx
	if den <= 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// emit records an event in the frame's result. The first event of a kind in
// a frame wins; two in one frame would need two tones confirmed within 20 ms.
func emit(res *ToneResult, detected, ended ToneKind, f float64, onset, endSample int64) {
	if detected != ToneNone && res.Detected == ToneNone {
		res.Detected = detected
	}
	if ended != ToneNone && res.Ended == ToneNone {
		res.Ended = ended
	}
	res.FreqHz = math.Round(f*10) / 10
	res.OnsetMs = samplesToMs(onset)
	res.DurationMs = samplesToMs(endSample - onset)
}

// coasting reports whether the open run is a confirmed tone in steady
// state, whose next hop may repeat the last verdict instead of an FFT.
func (t *ToneDetector) coasting() bool {
	r := &t.run
	return r.open && !r.silent && r.qualified && r.misses == 0 && !t.v21.open &&
		(t.last.class == hopPure || t.last.class == hopHarmonic) && math.Abs(r.slope) < sweepMinSlope
}

// step feeds one hop's verdict to the trackers and reports whether the hop
// is tonal.
func (t *ToneDetector) step(hp *toneHopInfo, end int64, res *ToneResult) bool {
	t.stepV21(hp, end, res)
	tonal := hp.class == hopV21
	relaxed := false
	switch {
	case hp.class == hopNone && hp.frac >= sitRelaxedFrac && hp.env <= hopMaxEnvAny && t.expectSIT(hp.freq):
		// Inside a SIT sequence the next segment is expected at a known
		// frequency: a noisier hop (8–12 dB SNR) there is good enough.
		hp.class = hopPure
	case hp.class != hopPure && hp.frac >= sitRelaxedFrac && hp.steady && t.sit.stage == 0 &&
		inBand(hp.freq, sit1LoHz, sit1HiHz):
		// A possible first SIT segment in line noise (or under mains hum):
		// admitted on the same terms, but only the triplet can make it a
		// tone — a run that needs such hops is never reported as a beep.
		hp.class, relaxed = hopPure, true
	}

	r := &t.run
	if hp.class == hopPure || hp.class == hopHarmonic {
		switch {
		case r.open && r.matches(hp.freq):
			r.add(hp, end)
		case r.open && r.reported == ToneBeep && !r.silent && hp.class == hopPure && end-r.lastEnd <= chainGapSamples:
			// A reported beep that steps to a new frequency is still the
			// same beep (stepped/descending beeps): keep its onset and
			// report, and end it only when the tone stops.
			onset := r.onset
			t.startRun(hp, end, res)
			r.onset, r.reported, r.qualified = onset, ToneBeep, true
			r.sitStage = 0
		default:
			// A run that lost track of a tone gliding nearby (vibrato
			// turning faster than the prediction) passes its unsteadiness
			// on: the new run must not look steady just because it starts
			// at a turning point.
			wobbly := r.open && !r.qualified && end-r.lastEnd <= toneHop &&
				math.Abs(hp.freq-r.f) <= trackWobbleRel*r.f &&
				(r.wobbly || r.runFMax-r.runFMin > max(trackSteadyHz, trackSteadyRel*r.f))
			if r.open {
				t.endRun(res)
			}
			t.startRun(hp, end, res)
			r.wobbly = wobbly
		}
		if relaxed && r.open && r.lastEnd == end {
			r.relaxedHops++
		}
		t.evaluate(end, res)
		// Tonal (not speech) once the run is a confirmed or held tone; before
		// that only for pure tones above the sung-fundamental range, since a
		// hum or "oo" would otherwise be taken away from the speech count.
		tonal = tonal || (r.open && !r.silent && (r.qualified ||
			(hp.class == hopPure && !relaxed && r.f >= trackLowHz && (r.hops >= 2 || r.prevHops > 0))))
	} else if hp.class == hopV21 {
		// FSK windows dominated by the mark tone look like a 1650 Hz beep;
		// inside a V.21 burst no run or chain may grow.
		if r.open {
			t.endRun(res)
		}
		t.chain.valid = false
	} else if r.open {
		r.misses++
		maxMiss := trackMaxMiss
		if t.lossy && (r.reported != ToneNone || r.qualified) {
			maxMiss = trackMaxMissReported
		}
		if r.misses > maxMiss {
			t.endRun(res)
		}
	}
	if t.sit.stage > 0 && !(r.open && r.sitStage == t.sit.stage+1) && end-t.sit.lastEnd > sitGapSamples {
		t.sitFail(res)
	}
	if t.chain.valid && end-t.chain.lastEnd > chainGapSamples {
		t.chain.valid = false
	}
	return tonal
}

func (t *ToneDetector) startRun(hp *toneHopInfo, end int64, res *ToneResult) {
	t.run = toneRun{
		open:     true,
		firstEnd: end,
		onset:    max(0, end-toneEnvBlocks*toneBlock),
		f:        hp.freq,
		firstF:   hp.freq,
	}
	r := &t.run
	r.add(hp, end)
	if t.sit.stage > 0 {
		next := t.sit.stage + 1
		if (next == 2 && inBand(hp.freq, sit2LoHz, sit2HiHz)) || (next == 3 && inBand(hp.freq, sit3LoHz, sit3HiHz)) {
			r.sitStage = next
		} else {
			t.sitFail(res)
		}
	}
	if r.sitStage == 0 && inBand(hp.freq, sit1LoHz, sit1HiHz) {
		r.sitStage = 1
	}
	if t.chain.valid && r.sitStage == 0 && hp.class == hopPure && end-t.chain.lastEnd <= chainGapSamples {
		r.onset = t.chain.onset
		r.chainFirstEnd, r.chainF = t.chain.firstEnd, t.chain.f
		r.prevHops = t.chain.hops
	}
	t.chain.valid = false
}

// evaluate qualifies the open run and resolves holds.
func (t *ToneDetector) evaluate(end int64, res *ToneResult) {
	r := &t.run
	if r.silent || r.reported != ToneNone {
		return
	}
	if !r.qualified {
		// Until the run counts, re-measure its onset each hop: the tone's
		// level and the run's frequency settle as evidence accumulates.
		if r.prevHops > 0 {
			r.onset = t.refineOnset(r.chainFirstEnd, end, r.chainF, 0)
		} else {
			r.onset = t.refineOnset(r.firstEnd, end, r.firstF, r.slope)
		}
	}
	dur := samplesToMs(r.lastEnd - r.onset)
	if !r.qualified {
		minDur := int64(trackMinDurMs)
		if r.harmonic() {
			// Tones with harmonics must show their steadiness in the run's
			// own hops (not through a walked-back onset): 110 ms, or 150 ms
			// in the sung range, where only voices make such tones.
			minDur = trackHarmDurMs
			if r.f < trackLowHz {
				minDur = trackHarmLowDurMs
			}
			dur = samplesToMs(r.lastEnd - r.firstEnd + toneEnvBlocks*toneBlock)
		}
		hops := r.hops
		if r.prevHops > 0 && r.hops >= 2 {
			hops += r.prevHops
		}
		// The run's own windows must span trackMinSpanMs too: the onset
		// walk-back may cross a vowel whose formant sits at the tone's
		// frequency, and must not make a 40 ms formant look like a beep.
		span := samplesToMs(r.lastEnd - r.firstEnd)
		if r.prevHops > 0 {
			span = samplesToMs(r.lastEnd - r.chainFirstEnd)
		}
		if r.dual || hops < trackMinHops || dur < minDur || span < trackMinSpanMs || !r.shapeOK(t.lossy) {
			return
		}
		// (A sweep smears over the long window and is no dual tone: those
		// hold still.)
		if r.unsteady > 0 && math.Abs(r.slope) < sweepMinSlope && t.dualTone(r.f, r.onset, end) {
			// A beating envelope and a second peak in the long window:
			// ringback, dial tone or another close pair, not a beep.
			r.dual = true
			return
		}
		r.qualified = true
		// Sweeping through a special band is still just a beep. (A second or
		// third SIT segment, arriving in its band right after the previous
		// one, needs no such proof; a codec may still be settling its pitch.)
		if r.sitStage < 2 && !r.steady(t.lossy) {
			r.sitStage = 0
			t.report(ToneBeep, res)
			return
		}
		switch {
		case r.sitStage > 0:
			r.hold = holdSIT
		case inBand(r.f, cedLoHz, cedHiHz):
			r.hold = holdCED
		case inBand(r.f, cngLoHz, cngHiHz):
			r.hold = holdCNG
		default:
			t.report(ToneBeep, res)
			return
		}
	}
	switch r.hold {
	case holdCED:
		if dur >= cedConfirmMs {
			t.report(ToneFaxCED, res)
		}
	case holdCNG:
		if dur > cngMaxMs {
			t.report(ToneBeep, res)
		}
	case holdSIT:
		switch {
		case r.sitStage == 3 && dur >= sit3ConfirmMs:
			r.onset = t.sit.onset
			t.sit = toneSIT{}
			t.report(ToneSIT, res)
		case r.sitStage == 1 && dur > sitSegMaxMs:
			// Too long for a SIT segment: an ordinary long beep.
			r.sitStage = 0
			t.report(ToneBeep, res)
		case r.sitStage == 2 && dur > sitSegMaxMs:
			t.sitFail(res)
		}
	}
}

func (t *ToneDetector) report(kind ToneKind, res *ToneResult) {
	r := &t.run
	if kind == ToneBeep && (r.needsRelaxation() || (t.v21.open && t.v21.reported)) {
		// Good enough only as a SIT segment, and it is not one; or the
		// mark tone of a V.21 preamble already reported (one tone at a
		// time).
		r.silent, r.hold = true, holdNone
		return
	}
	r.reported = kind
	r.hold = holdNone
	emit(res, kind, ToneNone, r.freq(), r.onset, r.lastEnd)
}

// needsRelaxation reports whether the run leans on hops admitted only as a
// possible first SIT segment: fewer than trackMinHops of its own hops, or
// under half of them, met a beep's terms.
func (r *toneRun) needsRelaxation() bool {
	strict := r.hops - r.relaxedHops
	return r.relaxedHops > 0 && (strict < trackMinHops || 2*strict < r.hops)
}

// freq is the run's frequency as reported: the median of its latest hops,
// so one concealed or noisy window does not decide it. A sweep reports
// its latest frequency.
func (r *toneRun) freq() float64 {
	w := r.window(trackShapeHops)
	if w.n == 0 {
		return r.f
	}
	if math.Abs(r.slope) >= sweepMinSlope {
		return r.f
	}
	v := w.f
	n := w.n
	for i := 1; i < n; i++ { // insertion sort of ≤ trackShapeHops values
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// endRun closes the open run: Ended for a reported tone, resolution for a
// held one, or a chain candidate for a short pure one.
func (t *ToneDetector) endRun(res *ToneResult) {
	r := &t.run
	r.open = false
	if r.silent {
		return
	}
	if r.reported != ToneNone {
		emit(res, ToneNone, r.reported, r.freq(), r.onset, r.lastEnd)
		return
	}
	dur := samplesToMs(r.lastEnd - r.onset)
	if !r.qualified {
		// Only a good but short tone may start or extend a stepped beep: a run
		// that failed for its shape (vibrato, a second tone) may not.
		if !r.harmonic() && r.hops >= 2 && r.sitStage == 0 && r.relaxedHops == 0 && !r.dual && !r.wobbly && r.shapeOK(t.lossy) {
			t.chain = toneChain{valid: true, onset: r.onset, lastEnd: r.lastEnd, hops: r.hops + r.prevHops, firstEnd: r.firstEnd, f: r.f}
			if r.prevHops > 0 {
				t.chain.firstEnd, t.chain.f = r.chainFirstEnd, r.chainF
			}
		}
		return
	}
	switch r.hold {
	case holdCED:
		emit(res, ToneBeep, ToneBeep, r.freq(), r.onset, r.lastEnd)
	case holdCNG:
		if dur >= cngMinMs && dur <= cngMaxMs {
			emit(res, ToneFaxCNG, ToneFaxCNG, r.freq(), r.onset, r.lastEnd)
		} else {
			emit(res, ToneBeep, ToneBeep, r.freq(), r.onset, r.lastEnd)
		}
	case holdSIT:
		segOK := dur >= sitSegMinMs && dur <= sitSegMaxMs
		switch {
		case r.sitStage == 1 && segOK:
			t.sit = toneSIT{stage: 1, onset: r.onset, lastEnd: r.lastEnd, f1: r.freq(), end1: r.lastEnd, relaxed: r.needsRelaxation()}
		case r.sitStage == 1 && r.needsRelaxation():
		case r.sitStage == 1:
			emit(res, ToneBeep, ToneBeep, r.freq(), r.onset, r.lastEnd)
		case r.sitStage == 2 && segOK:
			t.sit.stage = 2
			t.sit.lastEnd = r.lastEnd
		default:
			t.sitFail(res)
		}
	}
}
