package dsp

import "math"

// The VAD answers one question per 20 ms frame: is somebody talking? It has
// to hold from −35 dBFS speech in −40 dBFS brown noise to clean −10 dBFS
// speech, through G.711 and lossy Opus, without calling stationary line noise,
// hum or comfort noise speech. The design, stage by stage:
//
//  1. Band limit. A 200 Hz high-pass (−21 dB at 60 Hz) removes DC,
//     mains hum's fundamental and most of brown/pink noise's energy, which
//     lives below the telephone speech band. Speech loses little: the voice
//     band starts at 300 Hz on any phone line.
//  2. Energy in dBFS (full scale = 1.0, the fixtures' convention).
//  3. Noise floor by minimum statistics: the minimum frame energy over the
//     last 2 s. Speech pauses (between words, breaths) fall to the noise level
//     several times a second, speech never lifts the minimum, and the floor
//     follows a falling noise level instantly.
//  4. Noise spread: how far noise frames typically sit above that minimum,
//     learned only in real pauses (300 ms clear of speech). Wide-band white
//     noise has a steady per-frame energy (±0.5 dB); the narrow residue of
//     brown noise fluctuates by several dB. Thresholds are floor + spread +
//     margin, so they adapt to the noise's own variability instead of being
//     tuned to one noise colour.
//  5. Stationarity: a signal whose frame energy deviates by under 3 dB (std)
//     for 1 s is not speech (speech's energy swings at the 2–8 Hz syllable
//     rate); the floor jumps to its lower edge, which handles a noise level
//     that steps up faster than the 2 s window could (Opus-coded noise that
//     rises after speech, comfort-noise steps).
//  6. Hysteresis: onset needs two frames above the onset threshold (one if
//     far above); continuation is judged on the mean power of the last 60 ms
//     against a lower threshold, with a one-frame hangover, so low-SNR words
//     do not flicker. Word/utterance logic lives in Segmenter, not here.
const (
	// vadSilenceDB is the energy reported for digital silence.
	vadSilenceDB = -100.0
	// vadMinSpeechDB is an absolute gate: nothing quieter is speech. Dither
	// and idle-channel noise sit near −80 dBFS; the quietest talker we must
	// hear is −35 dBFS RMS, whose syllables peak well above −55.
	vadMinSpeechDB = -55.0
	// Minimum statistics: 10 sub-windows of 200 ms = a 2 s window, longer
	// than the longest stretch of fluent speech without a dip to the floor.
	vadSubFrames  = 10
	vadSubWindows = 10
	vadStatFrames = 50  // 1 s: longer than any held vowel (TTS holds one for 600 ms)
	vadStatStdDB  = 3.0 // the most a steady noise's frame energy deviates (Opus-coded noise ~2 dB; speech over 1 s ≥ 5)
	// Margins above floor+spread, in dB.
	vadOnsetDB    = 6.0 // two frames this far up start speech
	vadStrongDB   = 12.0
	vadContinueDB = 3.0
	// vadHangover frames bridge dips inside words (weak consonants); the
	// 60 ms continuation average below bridges another frame or two.
	vadHangover = 1
	// vadSmoothFrames: continuation is judged on the mean power of the last
	// 60 ms. Syllable nuclei follow each other every 100–250 ms, so in low
	// SNR a word's energy carries across its consonants instead of the
	// decision flickering frame by frame.
	vadSmoothFrames = 3
	// Noise spread tracking: start value, bounds and EMA weight (≈ 0.4 s).
	vadSpreadInit = 2.0
	vadSpreadMin  = 0.5
	vadSpreadMax  = 8.0
	// vadSpreadSlackDB: how far above floor + 2·spread a frame may sit and
	// still teach the spread (lets it grow towards a rougher noise).
	vadSpreadSlackDB = 3.0
	// vadSpreadQuiet frames (300 ms) without speech or onset must pass
	// before a frame teaches the spread: longer than a gap between words.
	vadSpreadQuiet = 15
	vadSpreadAlpha = 0.05
)

// VADFrame is the VAD's verdict and measurements for one frame.
type VADFrame struct {
	Speech bool
	// EnergyDB is the band-limited (≥ 200 Hz) frame energy in dBFS.
	EnergyDB float64
	// NoiseFloorDB is the tracked noise floor (minimum statistics).
	NoiseFloorDB float64
	// SNRDB is EnergyDB − NoiseFloorDB.
	SNRDB float64
	// NoiseSpreadDB is how far noise frames typically sit above the floor;
	// a frame must clear floor + spread + a margin to count as speech.
	NoiseSpreadDB float64
}

// The band limit is a centred moving-average subtraction: y[n] = x[n−D] −
// mean(x[n−2D..n]). With 2D+1 = 31 taps at 8 kHz it is −21 dB at 60 Hz,
// −13 dB at 100 Hz, −2.7 dB at 200 Hz and flat (±1 dB ripple) above 300 Hz —
// the response of a 2nd-order 200 Hz high-pass — but in integer arithmetic
// with a running sum, so it has no floating-point feedback chain and costs a
// fraction of an IIR filter. On amd64 whole frames go through an SSE2 kernel
// (window sums from prefix sums, four outputs at a time), exact to the bit.
const (
	vadHPTaps  = 31
	vadHPDelay = (vadHPTaps - 1) / 2
	// vadBufPad zeros lead the filter's buffer so that the kept samples and
	// the frame start on 16-byte boundaries and the whole buffer is a
	// multiple of four int32s (the vector kernel, vad_amd64.s).
	vadBufPad = 2
	vadBufLen = vadBufPad + vadHPTaps - 1 + FrameSamples
)

// VAD is a frame voice activity detector with an adaptive noise floor. It
// keeps state across frames, so one stream owns one VAD; it allocates
// nothing per frame.
type VAD struct {
	// buf holds vadBufPad zeros, the previous frame's last vadHPTaps−1
	// samples, then the current frame.
	buf [vadBufLen]int32

	frames int
	// minimum statistics
	subMin [vadSubWindows]float64
	subIdx int
	cur    float64 // minimum of the sub-window being filled
	curN   int
	floor  float64
	spread float64
	// recent energies for the stationarity test
	hist      [vadStatFrames]float64
	histN     int
	histI     int
	sum, sum2 float64

	speech bool
	above  int // consecutive frames above the onset threshold
	hang   int
	quiet  int                      // frames since the last speech or onset frame (saturating)
	pow    [vadSmoothFrames]float64 // linear power of the last frames
	powI   int
	// lastPow is the linear band power of the frame energyDB just measured.
	lastPow float64
}

// NewVAD returns a VAD ready for the first frame of a stream.
func NewVAD() *VAD {
	v := &VAD{}
	v.Reset()
	return v
}

// Reset forgets the stream: filter state, floor and hysteresis.
func (v *VAD) Reset() {
	v.buf = [len(v.buf)]int32{}
	v.frames = 0
	for i := range v.subMin {
		v.subMin[i] = math.Inf(1)
	}
	v.subIdx, v.curN = 0, 0
	v.cur = math.Inf(1)
	v.floor = 0
	v.spread = vadSpreadInit
	v.histN, v.histI, v.sum, v.sum2 = 0, 0, 0, 0
	v.speech, v.above, v.hang, v.quiet = false, 0, 0, vadSpreadQuiet
	v.pow, v.powI = [vadSmoothFrames]float64{}, 0
}

// energyDB band-limits the frame (continuing from the previous one) and
// returns its energy in dBFS.
func (v *VAD) energyDB(frame []int16) float64 {
	n := len(frame)
	if n == 0 {
		v.lastPow = 0
		return vadSilenceDB
	}
	if n > FrameSamples {
		n = FrameSamples
		frame = frame[:n]
	}
	var acc int64
	if n == FrameSamples {
		acc = hpEnergyFrame(&v.buf, (*[FrameSamples]int16)(frame))
	} else {
		acc = hpEnergy(v.buf[vadBufPad:vadBufPad+vadHPTaps-1+n], frame)
	}
	// Keep the last vadHPTaps−1 samples for the next frame's filter.
	copy(v.buf[vadBufPad:vadBufPad+vadHPTaps-1], v.buf[vadBufPad+n:vadBufPad+vadHPTaps-1+n])
	// n outputs, scaled by vadHPTaps
	ms := float64(acc) / float64(n) / (vadHPTaps * vadHPTaps) / (32768.0 * 32768.0)
	v.lastPow = ms
	if ms <= 1e-10 {
		return vadSilenceDB
	}
	return 10 * math.Log10(ms)
}

// hpEnergy band-limits a frame and returns Σy² of its outputs scaled by
// vadHPTaps: b holds the previous frame's last vadHPTaps−1 samples followed
// by room for frame (len(b) = vadHPTaps−1+len(frame), len(frame) ≥ 1), which
// it copies in. Output i is centred on b[i+D] over the window b[i : i+taps];
// the window sum slides by adding b[i+taps] and dropping b[i]. The frame is
// converted into b as the window reaches it, in the same loop; the views
// have equal lengths so the loop runs without bounds checks. |y| ≤
// 2·31·32768 fits an int32; y² needs 64 bits. The arithmetic is exact, so
// any implementation (the vector kernel of vad_amd64.s) must agree to the
// bit.
func hpEnergy(b []int32, frame []int16) int64 {
	n := len(frame)
	b[vadHPTaps-1] = int32(frame[0])
	var sum int32
	for _, x := range b[:vadHPTaps] {
		sum += x
	}
	src := frame[1:n]
	mid := b[vadHPDelay : vadHPDelay+len(src)]
	dst := b[vadHPTaps : vadHPTaps+len(src)]
	drop := b[:len(src)]
	var acc int64
	for i, s := range src {
		x := int32(s)
		y := int64(vadHPTaps*mid[i] - sum)
		acc += y * y
		dst[i] = x
		sum += x - drop[i]
	}
	y := int64(vadHPTaps*b[vadHPDelay+n-1] - sum) // the last output needs no slide
	return acc + y*y
}

// Process classifies one frame (normally FrameSamples samples).
func (v *VAD) Process(frame []int16) VADFrame {
	e := v.energyDB(frame)
	v.frames++

	// Minimum statistics over the last vadSubWindows sub-windows plus the
	// current one: a falling level is followed at once, a rising one when
	// the old minima age out.
	if e < v.cur {
		v.cur = e
	}
	v.curN++
	floor := v.cur
	for _, m := range v.subMin {
		if m < floor {
			floor = m
		}
	}
	if v.curN == vadSubFrames {
		v.subMin[v.subIdx] = v.cur
		v.subIdx = (v.subIdx + 1) % vadSubWindows
		v.cur, v.curN = math.Inf(1), 0
	}

	// Stationarity: energy that has stayed within a few dB (standard
	// deviation) for 1 s is noise, hum or a tone, whatever its level; lift
	// the floor to its lower edge. A deviation rather than a range, so the
	// rough frame energies of low-bitrate codec noise still count as
	// steady. Running sums keep it O(1); they are recomputed exactly once
	// per window so rounding cannot drift.
	old := v.hist[v.histI]
	v.hist[v.histI] = e
	v.histI++
	if v.histN < vadStatFrames {
		v.histN++
		v.sum += e
		v.sum2 += e * e
	} else {
		v.sum += e - old
		v.sum2 += e*e - old*old
	}
	if v.histI == vadStatFrames {
		v.histI = 0
		v.sum, v.sum2 = 0, 0
		for _, h := range v.hist {
			v.sum += h
			v.sum2 += h * h
		}
	}
	if v.histN == vadStatFrames {
		mean := v.sum / vadStatFrames
		sd := math.Sqrt(math.Max(0, v.sum2/vadStatFrames-mean*mean))
		if lo := mean - 2*sd; sd <= vadStatStdDB && lo > floor {
			floor = lo
			v.raiseFloor(lo)
		}
	}
	v.floor = floor

	snr := e - floor
	onset := floor + v.spread + math.Max(vadOnsetDB, 1.5*v.spread)
	cont := floor + v.spread + vadContinueDB
	v.pow[v.powI] = v.lastPow
	v.powI = (v.powI + 1) % vadSmoothFrames
	gate := e >= vadMinSpeechDB

	if gate && e > onset {
		v.above++
	} else {
		v.above = 0
	}
	switch {
	case v.speech && v.continues(cont):
		v.hang = vadHangover
	case v.speech && v.hang > 0:
		v.hang--
	case v.speech:
		v.speech = false
	case v.above >= 2 || (v.above == 1 && e > onset+vadStrongDB-vadOnsetDB):
		v.speech = true
		v.hang = vadHangover
	}

	// Learn the spread only from frames near the floor, well away from
	// speech: noise. The tails of words and the gaps between syllables sit
	// above the floor and would teach it that "noise" swings widely, which
	// raises the thresholds and loses more of the next words.
	if v.speech || v.above > 0 {
		v.quiet = 0
	} else if v.quiet < vadSpreadQuiet {
		v.quiet++
	}
	if v.quiet >= vadSpreadQuiet && snr <= 2*v.spread+vadSpreadSlackDB {
		v.spread += vadSpreadAlpha * (snr - v.spread)
		v.spread = math.Max(vadSpreadMin, math.Min(vadSpreadMax, v.spread))
	}

	return VADFrame{Speech: v.speech, EnergyDB: e, NoiseFloorDB: floor, SNRDB: snr, NoiseSpreadDB: v.spread}
}

// continues reports whether speech goes on: the mean power of the last
// vadSmoothFrames frames in dB clears the absolute gate and cont. Called
// only while in speech (a logarithm is a fair share of a frame's cost).
func (v *VAD) continues(cont float64) bool {
	es := 10 * math.Log10((v.pow[0]+v.pow[1]+v.pow[2])/vadSmoothFrames+1e-10)
	return es >= vadMinSpeechDB && es > cont
}

// raiseFloor lifts every stored minimum to at least f.
func (v *VAD) raiseFloor(f float64) {
	for i, m := range v.subMin {
		if m < f && !math.IsInf(m, 1) {
			v.subMin[i] = f
		}
	}
	if v.cur < f {
		v.cur = f
	}
}
