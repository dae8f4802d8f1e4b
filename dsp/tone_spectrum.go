package dsp

import (
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Spectral classification of one 10 ms hop (a 32 ms Hann window).
const (
	specLo = 2   // 62.5 Hz: lowest bin counted in the in-band energy
	specHi = 124 // 3875 Hz: highest bin counted
	peakLo = 3   // 94 Hz: the dominant peak is searched from here, so a low vowel fundamental is seen as what it is
	peakHi = 83  // 2594 Hz: highest bin a beep peak may sit in
	// humEdgeBin (250 Hz) tops the band of mains hum and its strong
	// harmonics and of rumble; for a peak from humFreeBin (1000 Hz) up, that
	// band is left out of the purity measure (see analyze).
	humEdgeBin = 8
	humFreeBin = 32
	// toneMinHz: a dominant peak below this is no beep (beeps are
	// 300–2500 Hz; below sit hum and sung fundamentals).
	toneMinHz = 290.0
	// peakHalfWidth bins either side of the peak hold a Hann main lobe (±2)
	// plus the smear of a ~30 Hz/10 ms sweep.
	peakHalfWidth = 3

	// hopPureFrac: a beep's peak holds at least this share of the in-band
	// energy. A second tone 11 dB down already fails it; a beep in 15 dB SNR
	// noise keeps ~0.95; a sustained "oo" whose fundamental dominates keeps
	// ~0.89 and is left to the stricter harmonic rules.
	hopPureFrac = 0.93
	// A tone in broadband line noise 8–12 dB below it keeps only 0.8–0.9 of
	// the in-band energy, the rest spread thin over every bin. Such a hop is
	// pure too when it holds hopNoisyFrac and the remainder is featureless:
	// no bin outside the peak within hopNoisyMaxOther (−13 dB) of the peak's
	// strongest bin — a second tone that strong already fails hopPureFrac —
	// and harmonics 2–4 under hopNoisyMaxHarm of the fundamental (a voice's
	// are stronger). Only from hopNoisyMinHz up: below it a vowel's strongest
	// partial can stand that far above its neighbours.
	hopNoisyFrac     = 0.75
	hopNoisyMinHz    = 900.0
	hopNoisyMaxOther = 0.05
	hopNoisyMaxHarm  = 0.1
	// Harmonic beeps: the fundamental (≥ 300 Hz) must hold hopHarmFundFrac,
	// fundamental plus harmonics hopHarmTotalFrac, each harmonic at most
	// hopHarmMaxRatio of the fundamental, and almost nothing may lie below
	// the fundamental (a sung vowel's F0 sits below its strongest partials).
	hopHarmMinHz     = 300
	hopHarmFundFrac  = 0.55
	hopHarmTotalFrac = 0.9
	hopHarmMaxRatio  = 0.35
	hopHarmMaxBelow  = 0.1 // line noise (pink/brown at ~13 dB SNR) puts a few per cent there
	// A hop's envelope is steady when max/min of its 5 ms block energies
	// across the last 30 ms stays within hopMaxEnvRatio: a clean tone stays
	// near 1.2 (partial periods at 300 Hz), two tones 40–140 Hz apart beat
	// far beyond it, and so does Opus concealing a lost packet. Harmonic
	// hops must be steady; a run of pure hops with unsteady ones among them
	// must pass the long-window dual-tone veto before it counts.
	hopMaxEnvRatio = 1.8
	toneEnvBlocks  = 6
	// A monotonic level change (a codec ramping a tone in or out, a fade)
	// is not a beat: it may span up to hopMaxRampRatio (9 dB) in 30 ms.
	// Beating dual tones rise and fall within the 30 ms for any spacing
	// above ~35 Hz; envMonotoneSlack absorbs partial-period ripple.
	hopMaxRampRatio  = 8.0
	envMonotoneSlack = 0.1
	// hopMaxEnvAny: beyond this the window straddles silence and tone (or a
	// codec's dropout); no verdict.
	hopMaxEnvAny = 25.0
	// Below hopCleanHz a "pure" hop must really be pure: harmonics 2–4
	// together under hopMaxHarmShare of the fundamental. A hummed or sung
	// fundamental that dominates its spectrum still carries a few per cent
	// there; a generated beep (even in 15 dB SNR noise) does not.
	hopCleanHz      = 450.0
	hopMaxHarmShare = 0.015

	// Dual-tone veto (see dualTone).
	dualSearchHz    = 200.0
	dualMainLobe    = 3 // bins either side of the main peak that belong to it
	dualMinRatio    = 0.1
	dualMirrorRatio = 0.25

	// V.21 channel 2: mark 1650 Hz, space 1850 Hz.
	v21BandLo     = 49 // 1531 Hz
	v21BandHi     = 63 // 1969 Hz
	v21MarkLo     = 51 // 1594 Hz
	v21MarkHi     = 54 // 1688 Hz
	v21SpaceLo    = 58 // 1813 Hz
	v21SpaceHi    = 61 // 1906 Hz
	v21BandFrac   = 0.8
	v21MinSubFrac = 0.03 // each of mark and space carries at least this share of the band
)

type hopClass uint8

const (
	hopNone     hopClass = iota
	hopPure              // one dominant peak, steady envelope
	hopHarmonic          // dominant fundamental ≥ 300 Hz plus weak harmonics, steady envelope
	hopV21               // energy in the 1650/1850 Hz FSK pair, both present
)

// toneHopInfo is the spectral verdict for one hop.
type toneHopInfo struct {
	class hopClass
	freq  float64 // interpolated peak frequency
	power float64 // energy in the peak's ±3 bins
	frac  float64 // that energy's share of the in-band energy
	env   float64 // max/min 5 ms block energy over the last 30 ms
	// steady: env is within hopMaxEnvRatio, or a monotonic ramp. Pure hops
	// need not be steady (codecs warble a tone's level); a run with
	// unsteady hops is checked for a hidden second tone before it counts.
	steady bool
}

// analyze windows the toneWin samples ending at absolute sample end (from
// the raw ring; before the first sample the ring holds silence), runs the
// FFT and classifies the hop.
func (t *ToneDetector) analyze(end int64) toneHopInfo {
	var hp toneHopInfo
	t.fft.windowRing(&t.raw, int((end-toneWin)&(toneRawRing-1)))
	t.stats.FFTs++
	t.fft.power(&t.pow, specLo, specHi)
	var total float64
	for _, p := range t.pow[specLo : specHi+1] {
		total += p
	}
	if total <= 0 {
		return hp
	}
	hp.env, hp.steady = t.envelopeSteady(end)
	steady := hp.steady

	kp := peakLo
	for k := peakLo + 1; k <= peakHi; k++ {
		if t.pow[k] > t.pow[kp] {
			kp = k
		}
	}
	if t.pow[kp-1] > t.pow[kp] || t.pow[kp+1] > t.pow[kp] {
		// The maximum sits on the search edge of a peak outside the beep
		// range (a low vowel fundamental): nothing to interpolate.
		return hp
	}
	hp.power = t.sumPow(kp-peakHalfWidth, kp+peakHalfWidth)
	// Mains hum and rumble live below humEdgeBin; a tone well above them is
	// judged against what lies in its own part of the band, so a beep on a
	// humming line stays pure. (Lower peaks keep the whole band: a voice's
	// fundamental down there is what shows a low "tone" to be a vowel.)
	if kp >= humFreeBin {
		total -= t.sumPow(specLo, humEdgeBin)
	}
	hp.frac = hp.power / total
	hp.freq = t.interpolate(kp)

	switch {
	case hp.freq < toneMinHz || hp.env > hopMaxEnvAny:
	case hp.frac >= hopPureFrac && (hp.freq >= hopCleanHz || t.harmonicShare(hp.freq, hp.power) <= hopMaxHarmShare):
		hp.class = hopPure
	case hp.frac >= hopNoisyFrac && hp.freq >= hopNoisyMinHz && steady && t.aloneInNoise(kp, hp.freq, hp.power):
		hp.class = hopPure
	case !steady:
	case hp.freq >= hopHarmMinHz && hp.frac >= hopHarmFundFrac && t.harmonic(kp, hp.freq, hp.power, total):
		hp.class = hopHarmonic
	}
	if hp.class == hopNone && steady && t.isV21(total) {
		hp.class = hopV21
	}
	return hp
}

func (t *ToneDetector) sumPow(lo, hi int) float64 {
	lo = max(lo, specLo)
	hi = min(hi, specHi)
	var s float64
	for k := lo; k <= hi; k++ {
		s += t.pow[k]
	}
	return s
}

// interpolate refines the peak at bin k with a parabola through the log
// powers of k-1, k, k+1 (exact for a Gaussian, within ~1 Hz for Hann).
func (t *ToneDetector) interpolate(k int) float64 {
	a, b, c := t.pow[k-1], t.pow[k], t.pow[k+1]
	if a <= 0 || b <= 0 || c <= 0 {
		return float64(k) * toneBinHz
	}
	la, lb, lc := math.Log(a), math.Log(b), math.Log(c)
	den := la - 2*lb + lc
	d := 0.0
	if den < 0 {
		d = 0.5 * (la - lc) / den
	}
	d = max(-0.5, min(0.5, d))
	return (float64(k) + d) * toneBinHz
}

// harmonic reports whether the energy outside the fundamental at bin kp is
// harmonics of it, each clearly weaker, with nothing underneath it.
func (t *ToneDetector) harmonic(kp int, f, fund, total float64) bool {
	if t.sumPow(specLo, kp-peakHalfWidth-1)/total > hopHarmMaxBelow {
		return false
	}
	sum := fund
	for h := 2; float64(h)*f < float64(specHi)*toneBinHz; h++ {
		kc := int(math.Round(float64(h) * f / toneBinHz))
		e := t.sumPow(kc-2, kc+2)
		if e > hopHarmMaxRatio*fund {
			return false
		}
		sum += e
	}
	return sum/total >= hopHarmTotalFrac
}

// aloneInNoise reports whether everything in band but the peak at bin kp
// (frequency f, energy fund) is featureless noise: no other bin within
// hopNoisyMaxOther of the peak's, harmonics 2–4 under hopNoisyMaxHarm.
func (t *ToneDetector) aloneInNoise(kp int, f, fund float64) bool {
	lim := hopNoisyMaxOther * t.pow[kp]
	for k := specLo; k <= specHi; k++ {
		if (k < kp-peakHalfWidth-1 || k > kp+peakHalfWidth+1) && t.pow[k] > lim {
			return false
		}
	}
	return t.harmonicShare(f, fund) <= hopNoisyMaxHarm
}

// harmonicShare returns the energy at harmonics 2–4 of f relative to the
// fundamental's energy fund.
func (t *ToneDetector) harmonicShare(f, fund float64) float64 {
	var e float64
	for h := 2; h <= 4; h++ {
		kc := int(math.Round(float64(h) * f / toneBinHz))
		e += t.sumPow(kc-2, kc+2)
	}
	return e / fund
}

// isV21 reports whether the hop's energy sits in the V.21 band with both the
// mark and the space frequency present.
func (t *ToneDetector) isV21(total float64) bool {
	band := t.sumPow(v21BandLo, v21BandHi)
	if band/total < v21BandFrac {
		return false
	}
	var mark, space float64
	for k := v21MarkLo; k <= v21MarkHi; k++ {
		mark = max(mark, t.pow[k])
	}
	for k := v21SpaceLo; k <= v21SpaceHi; k++ {
		space = max(space, t.pow[k])
	}
	// Between the two, an FSK spectrum dips; a single tone near 1750 Hz
	// peaks there instead.
	var mid float64
	for k := v21MarkHi + 1; k < v21SpaceLo; k++ {
		mid = max(mid, t.pow[k])
	}
	peak := max(mark, space)
	return min(mark, space) >= v21MinSubFrac*peak && mid < peak
}

// envelopeSteady returns the envelope ratio ending at end and whether it
// counts as steady (within hopMaxEnvRatio, or a monotonic ramp).
func (t *ToneDetector) envelopeSteady(end int64) (float64, bool) {
	env, ramp := t.envelope(end)
	return env, env <= hopMaxEnvRatio || (ramp && env <= hopMaxRampRatio)
}

// envelope returns max/min of the mean square of the last toneEnvBlocks 5 ms
// blocks before end (+Inf if any is silent or unknown), and whether they
// rise or fall monotonically (within envMonotoneSlack).
func (t *ToneDetector) envelope(end int64) (ratio float64, monotonic bool) {
	last := end/toneBlock - 1
	lo, hi := math.Inf(1), 0.0
	up, down := true, true
	prev := 0.0
	for b := last - toneEnvBlocks + 1; b <= last; b++ {
		e := t.blockEnergy(b)
		if e <= 0 {
			return math.Inf(1), false
		}
		if prev > 0 {
			up = up && e >= prev*(1-envMonotoneSlack)
			down = down && e <= prev*(1+envMonotoneSlack)
		}
		prev = e
		lo = min(lo, e)
		hi = max(hi, e)
	}
	return hi / lo, up || down
}

// toneLong is the dual-tone veto's transform buffer: 1024 real samples
// packed into 512 complex ones, transformed in place by gonum's radix-2 FFT
// (no plan) and split into the bins the veto reads. 8 KiB, allocated on a
// call's first veto and kept: most calls never run one (it only judges a
// tone run whose envelope wavered), and one that does may again, so the
// media path never allocates after that (unlike a pool, which the garbage
// collector empties).
type toneLong struct {
	z [toneLongWin / 2]complex128
}

// toneLongSplit holds e^{−2πi k/1024}, the real split's twiddles.
var toneLongSplit = func() (w [toneLongWin / 2]complex128) {
	for k := range w {
		a := -2 * math.Pi * float64(k) / toneLongWin
		w[k] = complex(math.Cos(a), math.Sin(a))
	}
	return w
}()

// transform packs the n samples of raw ending at absolute sample end,
// Hann-windowed over n and zero-padded to toneLongWin, and transforms them.
func (l *toneLong) transform(raw *[toneRawRing]int16, end, n int64) {
	sample := func(i int64) float64 {
		if i >= n {
			return 0
		}
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
		return h * float64(raw[(end-n+i)&(toneRawRing-1)])
	}
	for m := range l.z {
		l.z[m] = complex(sample(int64(2*m)), sample(int64(2*m+1)))
	}
	fourier.CoefficientsRadix2(l.z[:])
}

// power returns |X[k]|² of the 1024-point real DFT from the packed
// transform (0 outside 1 ≤ k < 512):
// X[k] = (Z[k] + conj Z[N−k])/2 + e^{−2πi k/1024}·(Z[k] − conj Z[N−k])/(2i).
func (l *toneLong) power(k int) float64 {
	if k < 1 || k >= len(l.z) {
		return 0
	}
	zk, c := l.z[k], l.z[len(l.z)-k]
	cc := complex(real(c), -imag(c))
	x := (zk+cc)/2 + toneLongSplit[k]*(zk-cc)/2i
	return real(x)*real(x) + imag(x)*imag(x)
}

// dualTone looks for a second tone near f that a 256-point window cannot
// separate: a long window (up to 1024 samples, 7.8 Hz bins) over the run so
// far, a second peak within ±200 Hz at most 10 dB down, and no mirror peak
// on the other side (a codec's amplitude warble makes symmetric sidebands; a
// second tone does not).
func (t *ToneDetector) dualTone(f float64, onset, end int64) bool {
	n := min(int64(toneLongWin), end-onset)
	if n < toneLongWin/4 {
		return false
	}
	if t.long == nil {
		t.long = new(toneLong)
	}
	t.long.transform(&t.raw, end, n)
	pw := t.long.power
	binHz := float64(SampleRate) / toneLongWin
	kc := int(math.Round(f / binHz))
	k1 := kc
	for k := kc - 3; k <= kc+3; k++ {
		if pw(k) > pw(k1) {
			k1 = k
		}
	}
	p1 := pw(k1)
	span := int(dualSearchHz / binHz)
	k2, p2 := 0, 0.0
	for k := k1 - span; k <= k1+span; k++ {
		if k >= k1-dualMainLobe && k <= k1+dualMainLobe {
			continue
		}
		if p := pw(k); p > pw(k-1) && p >= pw(k+1) && p > p2 {
			k2, p2 = k, p
		}
	}
	if p2 < dualMinRatio*p1 {
		return false
	}
	km := 2*k1 - k2
	mirror := max(pw(km-1), pw(km), pw(km+1))
	return mirror < dualMirrorRatio*p2
}
