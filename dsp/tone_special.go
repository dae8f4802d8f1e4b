package dsp

// Tones that are more than a beep: fax CED and CNG (held bands), SIT
// triplets (a sequencer over runs) and the V.21 preamble (its own tracker).
const (
	// Held bands. 2100 Hz (CED) is held until 400 ms; 1100 Hz (CNG) until
	// the burst ends or passes 650 ms; SIT first segments until the
	// triplet resolves (≤ ~1.2 s).
	cedLoHz, cedHiHz   = 2075.0, 2125.0
	cedConfirmMs       = 400
	cngLoHz, cngHiHz   = 1070.0, 1130.0
	cngMinMs, cngMaxMs = 380, 650
	sit1LoHz, sit1HiHz = 900.0, 995.0 // 913.8 / 985.2 Hz −1.5 % … +1 % (1000 Hz beeps stay beeps)
	sit2LoHz, sit2HiHz = 1350.0, 1450.0
	sit3LoHz, sit3HiHz = 1750.0, 1805.0
	sitSegMinMs        = 200 // segments are 274 or 380 ms
	sitSegMaxMs        = 450
	sitGapSamples      = 800 // from one segment's last hop to the next's first hop
	sit3ConfirmMs      = 100
	// sitRelaxedFrac: inside a SIT sequence, a hop at the expected
	// segment's frequency holding this share of the energy counts as tone.
	sitRelaxedFrac = 0.8

	// V.21: confirmed after v21ConfirmMs with V.21 hops covering
	// v21MinCoverage of the span; ends after v21MaxMiss other hops (120 ms,
	// as a lost Opus packet can blank it that long).
	v21ConfirmMs   = 250
	v21MaxMiss     = 12
	v21MinCoverage = 0.7
	// Mark-dominated FSK windows look like a pure 1650 Hz tone; inside an
	// open V.21 run they count as support.
	v21SupportLoHz = 1600.0
	v21SupportHiHz = 1900.0
)

type holdKind uint8

const (
	holdNone holdKind = iota
	holdCED
	holdCNG
	holdSIT
)

// toneSIT follows a SIT triplet across its segments' runs.
type toneSIT struct {
	stage   int // segments completed: 0, 1 or 2
	onset   int64
	lastEnd int64
	f1      float64
	end1    int64
	relaxed bool // the first segment needed relaxed hops: no beep if the triplet fails
}

// toneV21 tracks a V.21 FSK burst.
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

// inBand reports whether f lies in [lo, hi].
func inBand(f, lo, hi float64) bool { return f >= lo && f <= hi }

// expectSIT reports whether a SIT sequence in progress expects a segment at f.
func (t *ToneDetector) expectSIT(f float64) bool {
	r := &t.run
	switch {
	case t.sit.stage == 1 && inBand(f, sit2LoHz, sit2HiHz), t.sit.stage == 2 && inBand(f, sit3LoHz, sit3HiHz):
		return true
	case r.open && r.qualified && r.hold == holdSIT:
		lo, hi := sitBand(r.sitStage)
		return inBand(f, lo, hi)
	}
	return false
}

// sitBand returns the frequency band of SIT segment stage (1–3).
func sitBand(stage int) (lo, hi float64) {
	switch stage {
	case 1:
		return sit1LoHz, sit1HiHz
	case 2:
		return sit2LoHz, sit2HiHz
	case 3:
		return sit3LoHz, sit3HiHz
	}
	return 0, 0
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
	if s.stage == 0 || s.relaxed {
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
			v.onset = t.refineOnset(v.firstEnd, end, 0, 0)
			v.refined = true
		}
		span := (v.lastEnd-v.firstEnd)/toneHop + 1
		// A tone already reported and still sounding (a beep whose beating
		// or onset smear looked like FSK for a while) is not a fax preamble
		// as well: one tone is reported at a time.
		beeping := t.run.open && t.run.reported != ToneNone
		if !v.reported && !beeping && samplesToMs(v.lastEnd-v.onset) >= v21ConfirmMs && float64(v.hops) >= v21MinCoverage*float64(span) {
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
