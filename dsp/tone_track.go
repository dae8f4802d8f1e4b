package dsp

import "math"

// Tracking: hops join runs; runs become beeps, or are held until they can be
// told apart from fax and SIT tones.
const (
	// trackMaxMiss hops (40 ms) a run may skip without ending: a fax CED
	// phase reversal or a lost Opus packet spoils two or three windows.
	trackMaxMiss = 4
	// A run is a beep once it has trackMinHops tonal hops and ~70 ms of tone
	// since its onset: every ≥ 80 ms beep gets there, while 32 ms windows
	// land a confirmation ~80–100 ms after the true start.
	trackMinHops   = 4
	trackMinDurMs  = 70
	trackHarmDurMs = 110 // harmonic-rich tones must last longer: sung vowels drift
	// A hop continues a run if it lands within max(trackTolHz, trackTolRel·f)
	// of the frequency predicted from the run's slope.
	trackTolHz  = 8.0
	trackTolRel = 0.012
	// trackMaxSlope (Hz per 10 ms hop) allows descending sweeps up to 6 kHz/s.
	trackMaxSlope = 60.0
	// A run's frequency track must be a straight line (steady or linear sweep)
	// within max(trackMaxResidHz, trackMaxResidRel·f) RMS: vibrato is not.
	trackMaxResidHz  = 2.5
	trackMaxResidRel = 0.003
	// trackHarmMaxSlope: a tone with harmonics must be steady, not sweep.
	trackHarmMaxSlope = 1.0
	// Tones with harmonics, and tones below trackLowHz (the range of a sung
	// fundamental), must also hold their frequency within
	// max(trackSteadyHz, trackSteadyRel·f) over the whole run: a singer's
	// vibrato (±2–6 %) sweeps far more than that in 110 ms, a beep does not.
	trackLowHz     = 450.0
	trackSteadyHz  = 1.5
	trackSteadyRel = 0.003
	// trackMaxPowerRatio bounds the peak-power range over a run (9 dB).
	trackMaxPowerRatio = 8.0
	// The onset is the earliest 5 ms block, contiguous with the steady tone,
	// that holds at least onsetMinFrac (−20 dB) of the steady energy and
	// onsetMinShare of its energy at the tone's frequency. Codecs (Opus/SILK)
	// ramp a tone's level up over ~100 ms; the onset is where it starts.
	onsetMinFrac  = 0.01
	onsetMinShare = 0.5
	// chainGapSamples: a short pure run followed within this gap by another
	// one is a stepped beep; the second inherits the first's onset.
	chainGapSamples = 400

	// Held bands. 2100 Hz (CED) is held until 400 ms; 1100 Hz (CNG) until
	// the burst ends or passes 650 ms; SIT first segments until the
	// triplet resolves (≤ ~1.2 s).
	cedLoHz, cedHiHz       = 2075.0, 2125.0
	cedConfirmMs           = 400
	cngLoHz, cngHiHz       = 1070.0, 1130.0
	cngMinMs, cngMaxMs     = 380, 650
	sit1LoHz, sit1HiHz     = 900.0, 995.0 // 913.8 / 985.2 Hz −1.5 % … +1 % (1000 Hz beeps stay beeps)
	sit2LoHz, sit2HiHz     = 1350.0, 1450.0
	sit3LoHz, sit3HiHz     = 1750.0, 1805.0
	sitSegMinMs            = 200 // segments are 274 or 380 ms
	sitSegMaxMs            = 450
	sitGapSamples          = 800 // from one segment's last hop to the next's first hop
	sit3ConfirmMs          = 100
	v21ConfirmMs           = 250
	v21MaxMiss             = 6
	v21MinCoverage         = 0.7
	v21SupportLoHz         = 1600.0 // mark-dominated FSK windows look pure; they support an open V.21 run
	v21SupportHiHz         = 1900.0
	onsetSearchBackSamples = 720
)

type holdKind uint8

const (
	holdNone holdKind = iota
	holdCED
	holdCNG
	holdSIT
)

// toneRun is a run of tonal hops at one (possibly sweeping) frequency.
type toneRun struct {
	open      bool
	firstEnd  int64 // end sample of the first hop
	onset     int64 // sample at which the tone started
	refined   bool
	lastEnd   int64 // end sample of the latest matching hop
	hops      int
	prevHops  int // hops of the runs this one is chained to
	harmHops  int
	misses    int
	f, slope  float64
	fFirst    float64
	fMin      float64
	fMax      float64
	pMin      float64
	pMax      float64
	fitN      float64 // least-squares accumulators of (hop index, f - fFirst)
	fitX      float64
	fitY      float64
	fitXX     float64
	fitXY     float64
	fitYY     float64
	qualified bool
	hold      holdKind
	sitStage  int      // 1..3 when the run is a candidate SIT segment
	reported  ToneKind // kind announced with Detected, awaiting Ended
	silent    bool     // absorbed by a failed SIT: reports nothing
}

type toneChain struct {
	valid   bool
	onset   int64
	lastEnd int64
	hops    int
}

type toneSIT struct {
	stage   int // segments completed: 0, 1 or 2
	onset   int64
	lastEnd int64
	f1      float64
	end1    int64
}

type toneV21 struct {
	open     bool
	firstEnd int64
	onset    int64
	refined  bool
	lastEnd  int64
	hops     int
	misses   int
	fSum     float64
	reported bool
}

func inBand(f, lo, hi float64) bool { return f >= lo && f <= hi }

func (r *toneRun) matches(f float64) bool {
	tol := max(trackTolHz, trackTolRel*f)
	if r.hops == 1 {
		// No slope yet: the second hop may set one, up to a sweep's maximum.
		tol += trackMaxSlope * float64(r.misses+1)
	}
	pred := r.f + r.slope*float64(r.misses+1)
	return math.Abs(f-pred) <= tol
}

func (r *toneRun) add(hp *toneHopInfo, end int64) {
	d := (hp.freq - r.f) / float64(r.misses+1)
	if r.hops > 0 {
		r.slope = max(-trackMaxSlope, min(trackMaxSlope, d))
	}
	r.f = hp.freq
	r.misses = 0
	r.hops++
	r.lastEnd = end
	if hp.class == hopHarmonic {
		r.harmHops++
	}
	r.fMin = min(r.fMin, hp.freq)
	r.fMax = max(r.fMax, hp.freq)
	r.pMin = min(r.pMin, hp.power)
	r.pMax = max(r.pMax, hp.power)
	x := float64(end-r.firstEnd) / toneHop
	y := hp.freq - r.fFirst
	r.fitN++
	r.fitX += x
	r.fitY += y
	r.fitXX += x * x
	r.fitXY += x * y
	r.fitYY += y * y
}

// fit returns the least-squares slope (Hz per hop) of the run's frequency
// track and the RMS residual around that line.
func (r *toneRun) fit() (slope, resid float64) {
	n := r.fitN
	if n < 2 {
		return 0, 0
	}
	mx, my := r.fitX/n, r.fitY/n
	sxx := r.fitXX - n*mx*mx
	sxy := r.fitXY - n*mx*my
	syy := r.fitYY - n*my*my
	if sxx > 0 {
		slope = sxy / sxx
	}
	return slope, math.Sqrt(max(0, (syy-slope*sxy)/n))
}

// steady reports whether the run holds one frequency (no sweep), as fax and
// SIT tones do.
func (r *toneRun) steady() bool {
	b, _ := r.fit()
	return math.Abs(b) <= trackHarmMaxSlope && r.fMax-r.fMin <= max(trackSteadyHz, trackSteadyRel*r.f)
}

// shapeOK checks the run's track: a line (steady tone or linear sweep), a
// steady one if harmonics were seen, and a roughly steady level.
func (r *toneRun) shapeOK() bool {
	if r.pMin <= 0 || r.pMax/r.pMin > trackMaxPowerRatio {
		return false
	}
	n := r.fitN
	if n < 3 {
		return true
	}
	b, resid := r.fit()
	if resid > max(trackMaxResidHz, trackMaxResidRel*r.f) {
		return false
	}
	if r.harmHops > 0 && math.Abs(b) > trackHarmMaxSlope {
		return false
	}
	if (r.harmHops > 0 || r.f < trackLowHz) && r.fMax-r.fMin > max(trackSteadyHz, trackSteadyRel*r.f) {
		return false
	}
	return true
}

// refineOnset walks back from the first steady window, 5 ms block by
// block, over blocks that still carry the tone: at least onsetMinFrac of the
// steady energy, and (when f > 0) most of it at f by a Goertzel filter, so a
// codec's gain ramp counts as tone while preceding speech or noise does not.
func (t *ToneDetector) refineOnset(firstEnd, now int64, f float64) int64 {
	last := now/toneBlock - 1
	steady := (t.blockEnergy(last) + t.blockEnergy(last-1)) / 2
	start := (firstEnd - toneEnvBlocks*toneBlock) / toneBlock // first block of the first steady window
	limit := max(0, (firstEnd-toneEnvBlocks*toneBlock-onsetSearchBackSamples)/toneBlock)
	oldest := (t.samples+FrameSamples-toneRawRing)/toneBlock + 1
	limit = max(limit, oldest)
	coef := 2 * math.Cos(2*math.Pi*f/SampleRate)
	b := start - 1
	for ; b >= limit; b-- {
		e := t.blockEnergy(b)
		if e < 0 || e < onsetMinFrac*steady {
			break
		}
		if f > 0 && t.goertzelShare(b*toneBlock, coef) < onsetMinShare {
			break
		}
	}
	return max(0, (b+1)*toneBlock)
}

// goertzelShare returns the share of the 5 ms block at absolute sample s
// whose energy lies at the Goertzel filter's frequency (≈1 for a tone there).
func (t *ToneDetector) goertzelShare(s int64, coef float64) float64 {
	var s1, s2, e float64
	for i := int64(0); i < toneBlock; i++ {
		x := float64(t.raw[(s+i)%toneRawRing])
		e += x * x
		s0 := x + coef*s1 - s2
		s2, s1 = s1, s0
	}
	if e <= 0 {
		return 0
	}
	p := s1*s1 + s2*s2 - coef*s1*s2
	return p / (e * toneBlock / 2)
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

// step feeds one hop's verdict to the trackers and reports whether the hop
// is tonal.
func (t *ToneDetector) step(hp *toneHopInfo, end int64, res *ToneResult) bool {
	t.stepV21(hp, end, res)
	tonal := hp.class == hopV21

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
			r.onset, r.refined, r.reported, r.qualified = onset, true, ToneBeep, true
			r.sitStage = 0
		default:
			if r.open {
				t.endRun(res)
			}
			t.startRun(hp, end, res)
		}
		t.evaluate(end, res)
		// Tonal (not speech) once the run is a confirmed or held tone; before
		// that only for pure tones above the sung-fundamental range, since a
		// hum or "oo" would otherwise be taken away from the speech count.
		tonal = tonal || (r.open && !r.silent && (r.qualified ||
			(hp.class == hopPure && r.f >= trackLowHz && (r.hops >= 2 || r.prevHops > 0))))
	} else if hp.class == hopV21 {
		// FSK windows dominated by the mark tone look like a 1650 Hz beep;
		// inside a V.21 burst no run or chain may grow.
		if r.open {
			t.endRun(res)
		}
		t.chain.valid = false
	} else if r.open {
		r.misses++
		if r.misses > trackMaxMiss {
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
		fFirst:   hp.freq,
		fMin:     hp.freq,
		fMax:     hp.freq,
		pMin:     math.Inf(1),
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
		r.refined = true
		r.prevHops = t.chain.hops
	}
	t.chain.valid = false
}

// evaluate qualifies the open run and resolves holds.
func (t *ToneDetector) evaluate(end int64, res *ToneResult) {
	r := &t.run
	if !r.refined && r.hops >= 3 {
		r.onset = t.refineOnset(r.firstEnd, end, r.f)
		r.refined = true
	}
	if r.silent || r.reported != ToneNone {
		return
	}
	dur := samplesToMs(r.lastEnd - r.onset)
	if !r.qualified {
		minDur := int64(trackMinDurMs)
		if r.harmHops > 0 {
			minDur = trackHarmDurMs
		}
		hops := r.hops
		if r.prevHops > 0 && r.hops >= 2 {
			hops += r.prevHops
		}
		if hops < trackMinHops || dur < minDur || !r.shapeOK() {
			return
		}
		r.qualified = true
		if !r.steady() {
			// Sweeping through a special band is still just a beep.
			if r.sitStage > 1 {
				t.sitFail(res)
				return
			}
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
	r.reported = kind
	r.hold = holdNone
	emit(res, kind, ToneNone, r.f, r.onset, r.lastEnd)
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
		emit(res, ToneNone, r.reported, r.f, r.onset, r.lastEnd)
		return
	}
	dur := samplesToMs(r.lastEnd - r.onset)
	if !r.qualified {
		if r.harmHops == 0 && r.hops >= 2 && r.sitStage == 0 {
			t.chain = toneChain{valid: true, onset: r.onset, lastEnd: r.lastEnd, hops: r.hops + r.prevHops}
		}
		return
	}
	switch r.hold {
	case holdCED:
		emit(res, ToneBeep, ToneBeep, r.f, r.onset, r.lastEnd)
	case holdCNG:
		if dur >= cngMinMs && dur <= cngMaxMs {
			emit(res, ToneFaxCNG, ToneFaxCNG, r.f, r.onset, r.lastEnd)
		} else {
			emit(res, ToneBeep, ToneBeep, r.f, r.onset, r.lastEnd)
		}
	case holdSIT:
		segOK := dur >= sitSegMinMs && dur <= sitSegMaxMs
		switch {
		case r.sitStage == 1 && segOK:
			t.sit = toneSIT{stage: 1, onset: r.onset, lastEnd: r.lastEnd, f1: r.f, end1: r.lastEnd}
		case r.sitStage == 1:
			emit(res, ToneBeep, ToneBeep, r.f, r.onset, r.lastEnd)
		case r.sitStage == 2 && segOK:
			t.sit.stage = 2
			t.sit.lastEnd = r.lastEnd
		default:
			t.sitFail(res)
		}
	}
}

// sitFail gives up on a SIT sequence: its first segment was a beep after
// all, reported now with its true onset; the run in progress, if it belongs
// to the sequence, is absorbed.
func (t *ToneDetector) sitFail(res *ToneResult) {
	s := t.sit
	t.sit = toneSIT{}
	if r := &t.run; r.open && r.sitStage > 1 {
		r.silent = true
		r.sitStage = 0
	}
	if s.stage == 0 {
		return
	}
	emit(res, ToneBeep, ToneBeep, s.f1, s.onset, s.end1)
}

// stepV21 tracks V.21 FSK hops; a preamble is confirmed after 250 ms.
func (t *ToneDetector) stepV21(hp *toneHopInfo, end int64, res *ToneResult) {
	v := &t.v21
	support := v.open && hp.class == hopPure && inBand(hp.freq, v21SupportLoHz, v21SupportHiHz)
	if hp.class == hopV21 || support {
		if !v.open {
			*v = toneV21{open: true, firstEnd: end, onset: max(0, end-toneEnvBlocks*toneBlock)}
		}
		v.hops++
		v.misses = 0
		v.lastEnd = end
		v.fSum += hp.freq
		if !v.refined && v.hops >= 3 {
			v.onset = t.refineOnset(v.firstEnd, end, 0)
			v.refined = true
		}
		span := (v.lastEnd-v.firstEnd)/toneHop + 1
		if !v.reported && samplesToMs(v.lastEnd-v.onset) >= v21ConfirmMs && float64(v.hops) >= v21MinCoverage*float64(span) {
			v.reported = true
			emit(res, ToneV21, ToneNone, v.fSum/float64(v.hops), v.onset, v.lastEnd)
		}
		return
	}
	if v.open {
		v.misses++
		if v.misses > v21MaxMiss {
			v.open = false
			if v.reported {
				emit(res, ToneNone, ToneV21, v.fSum/float64(v.hops), v.onset, v.lastEnd)
			}
		}
	}
}
