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
	coefAt := func(b int64) float64 {
		fb := f + slope*(float64(b*toneBlock+toneBlock/2)-centre)/toneHop
		return 2 * math.Cos(2*math.Pi*max(100, min(3800, fb))/SampleRate)
	}
	// Goertzel filters are a chain of dependent multiply-adds, so two
	// blocks are filtered together (b and the next one back, which the
	// walk most likely needs next): two independent chains in one loop.
	cachedB, cachedShare := int64(-1), 0.0
	onset := start
	gap := 0
	for b := start - 1; b >= limit && gap <= onsetMaxGapBlocks; b-- {
		e := t.blockEnergy(b)
		if e < 0 {
			break
		}
		if f <= 0 && e < onsetMinFracNoFreq*steady {
			break // without a frequency to check, energy alone decides, and no gaps
		}
		if e >= onsetMinFrac*steady && f > 0 {
			var share float64
			switch {
			case b == cachedB:
				share = cachedShare
			case b-1 >= limit:
				share, cachedShare = t.goertzelShare2(b*toneBlock, coefAt(b), (b-1)*toneBlock, coefAt(b-1))
				cachedB = b - 1
			default:
				share = t.goertzelShare(b*toneBlock, coefAt(b))
			}
			if share >= onsetMinShare {
				onset, gap = b, 0
				continue
			}
		} else if e >= onsetMinFrac*steady {
			onset, gap = b, 0
			continue
		}
		// A short gap (a lost packet concealed badly) may separate the
		// tone's true start from the run: look past it.
		gap++
	}
	return max(0, onset*toneBlock)
}

// goertzelShare2 is goertzelShare for two blocks at once (the same
// arithmetic per block, interleaved).
func (t *ToneDetector) goertzelShare2(sa int64, ca float64, sb int64, cb float64) (float64, float64) {
	var a1, a2, ea, b1, b2, eb float64
	dc := t.dc
	for i := int64(0); i < toneBlock; i++ {
		xa := float64(t.raw[(sa+i)&(toneRawRing-1)]) - dc
		xb := float64(t.raw[(sb+i)&(toneRawRing-1)]) - dc
		ea += xa * xa
		eb += xb * xb
		a0 := xa + ca*a1 - a2
		b0 := xb + cb*b1 - b2
		a2, a1 = a1, a0
		b2, b1 = b1, b0
	}
	share := func(s1, s2, e, coef float64) float64 {
		if e <= 0 {
			return 0
		}
		return (s1*s1 + s2*s2 - coef*s1*s2) / (e * toneBlock / 2)
	}
	return share(a1, a2, ea, ca), share(b1, b2, eb, cb)
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
