package dsp

import "math"

// Onset measurement: where did the tone a run has found actually start?
const (
	// The onset is the earliest 5 ms block, walking back from the
	// run's first hop at most onsetSearchBackSamples beyond its first window
	// and across gaps of up to onsetMaxGapBlocks (a concealed lost packet),
	// that holds at least onsetMinFrac (−20 dB) of the tone's level and
	// onsetMinShare of its energy at the tone's frequency (Goertzel). Codecs
	// (Opus/SILK) ramp a tone in over ~100 ms; the onset is where it starts.
	// Without a single frequency (V.21) energy alone decides, at
	// onsetMinFracNoFreq, with no gaps.
	onsetMinFrac           = 0.01
	onsetMinShare          = 0.5
	onsetMaxGapBlocks      = 12
	onsetMinFracNoFreq     = 0.1
	onsetSearchBackSamples = 720
)

// refineOnset walks back from the end of the run's first window, 5 ms block by
// block, over blocks that still carry the tone: at least onsetMinFrac of the
// steady energy, and (when f > 0) most of it at f by a Goertzel filter, so a
// codec's gain ramp counts as tone while preceding speech or noise does not.
//
// f is the tone's frequency at the first hop's window centre and slope its
// change per hop; a glide is followed back along that line.
func (t *ToneDetector) refineOnset(firstEnd, now int64, f, slope float64) int64 {
	// The tone's level: mean of the latest 30 ms (a codec may warble it).
	last := now/toneBlock - 1
	var steady float64
	for b := last - toneEnvBlocks + 1; b <= last; b++ {
		steady += max(0, t.blockEnergy(b)) / toneEnvBlocks
	}
	start := firstEnd / toneBlock // walk back from the end of the first tonal window
	limit := max(0, (firstEnd-toneEnvBlocks*toneBlock-onsetSearchBackSamples)/toneBlock)
	oldest := (t.samples+FrameSamples-toneRawRing)/toneBlock + 1
	limit = max(limit, oldest)
	centre := float64(firstEnd - toneWin/2)
	onset := start
	gap := 0
	for b := start - 1; b >= limit && gap <= onsetMaxGapBlocks; b-- {
		fb := f + slope*(float64(b*toneBlock+toneBlock/2)-centre)/toneHop
		coef := 2 * math.Cos(2*math.Pi*max(100, min(3800, fb))/SampleRate)
		e := t.blockEnergy(b)
		if e < 0 {
			break
		}
		if f <= 0 && e < onsetMinFracNoFreq*steady {
			break // without a frequency to check, energy alone decides, and no gaps
		}
		if e < onsetMinFrac*steady || (f > 0 && t.goertzelShare(b*toneBlock, coef) < onsetMinShare) {
			// A short gap (a lost packet concealed badly) may separate the
			// tone's true start from the run: look past it.
			gap++
			continue
		}
		onset, gap = b, 0
	}
	return max(0, onset*toneBlock)
}

// goertzelShare returns the share of the 5 ms block at absolute sample s
// whose energy lies at the Goertzel filter's frequency (≈1 for a tone there).
func (t *ToneDetector) goertzelShare(s int64, coef float64) float64 {
	var s1, s2, e float64
	for i := int64(0); i < toneBlock; i++ {
		x := float64(t.raw[(s+i)&(toneRawRing-1)]) - t.dc // a DC offset is not the tone's
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
