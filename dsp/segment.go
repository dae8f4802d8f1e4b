package dsp

import "math"

// Segmenter turns per-frame VAD verdicts into the units an answering-machine
// decision counts: words (voiced bursts) and utterances (words joined by short
// pauses). It is what thresholdWordCount counts.
//
// The rules, and why:
//   - A burst is a run of VAD speech frames; gaps shorter than WordGapMs are
//     bridged (stop closures and weak consonants inside a word).
//   - A burst becomes speech only when it lasts MinWordMs (Asterisk's min
//     word length: the shortest stressed syllable) AND its energy moves by
//     at least ModulationDB (or twice the noise spread, if larger) after its
//     first frame (which straddles the onset: a noise level step would pass
//     on it alone). A burst that ends with a drop into the VAD's hangover
//     qualifies then, so a flat-voiced TTS word still counts when it ends. Speech swings at the syllable rate; a noise level step,
//     a click or a hum that fooled the VAD for a moment does not. Until a
//     burst qualifies its frames count as silence.
//   - Once someone has spoken, a burst whose peak stays ForegroundDB below
//     the loudest speech so far (fading 2 dB/s) is background — babble, a
//     TV, a distant talker — and never qualifies. Frames inside a word are
//     not gated (cutting a talker's own decays costs more than it gains),
//     except in a word that began as background and was taken over by a
//     talker 20 dB louder: there, once the talker stops, the background
//     showing through is a gap again, so the callee's word ends with them.
//   - Long bursts count several words: people speak 2.5–3 words per second,
//     so a word-like unit longer than MaxWordMs of unbroken voicing is
//     counted again — a 3 s run-on greeting is six words, not one.
//   - An utterance is a run of words whose pauses are shorter than
//     UtteranceGapMs; the pause after it is what a human leaves for an
//     answer.
type Segmenter struct {
	cfg SegmenterConfig
	// frame counts derived from cfg
	minWordF, wordGapF, maxWordF, uttGapF int

	frame int // frames pushed so far

	// current burst
	open      bool
	start     int // first frame
	voiced    int // voiced frames so far
	gap       int // trailing unvoiced frames (not yet bridged)
	qualified bool
	eMin      float64
	eMax      float64
	wordLen   int // frames in the current word unit of the burst
	counted   bool
	fg        float64 // foreground level: the loudest qualified speech frame, fading
	qualPeak  float64 // the burst's peak when it qualified
	mixed     bool    // the burst qualified as background and a far louder talker took over

	out SegmentFrame
}

// SegmenterConfig holds the segmentation constants; zero fields take the
// defaults.
type SegmenterConfig struct {
	// MinWordMs is the shortest burst that counts as a word (100).
	MinWordMs int
	// WordGapMs is the VAD silence that separates two words (60: with the
	// VAD's 40 ms hangover, a ≈100 ms pause in the audio).
	WordGapMs int
	// MaxWordMs is the longest unbroken voicing counted as one word (500).
	MaxWordMs int
	// UtteranceGapMs is the pause that ends an utterance (800: Asterisk's
	// after-greeting silence; people answering "Hello?" then wait longer).
	UtteranceGapMs int
	// ModulationDB is the least energy swing a burst must show (6).
	ModulationDB float64
	// ForegroundDB: once someone has spoken, a new burst whose peak stays
	// this far below the loudest speech heard is background — distant
	// talkers, a TV — not the callee (12: one talker's words peak within
	// about ±6 dB of each other; babble heard with a call sits 15 dB and
	// more below the person on the phone).
	ForegroundDB float64
}

// Segmentation defaults.
const (
	DefaultMinWordMs      = 100
	DefaultWordGapMs      = 60
	DefaultMaxWordMs      = 500
	DefaultUtteranceGapMs = 800
	DefaultModulationDB   = 6.0
	DefaultForegroundDB   = 12.0
	// fgDecayDBPerFrame lets the foreground level fade by 2 dB a second.
	fgDecayDBPerFrame = 2.0 * FrameMs / 1000
	// fgMixedExtraDB: in a mixed word, frames ForegroundDB + this (20 dB)
	// below the foreground are background; a talker's own consonants and
	// decays reach that low only briefly (bridged as WordGapMs gaps).
	fgMixedExtraDB = 8.0
	// fgMixedMinFrames (300 ms) of a burst must pass before a louder talker
	// makes it mixed.
	fgMixedMinFrames = 15
)

func (c SegmenterConfig) withDefaults() SegmenterConfig {
	if c.MinWordMs <= 0 {
		c.MinWordMs = DefaultMinWordMs
	}
	if c.WordGapMs <= 0 {
		c.WordGapMs = DefaultWordGapMs
	}
	if c.MaxWordMs <= 0 {
		c.MaxWordMs = DefaultMaxWordMs
	}
	if c.UtteranceGapMs <= 0 {
		c.UtteranceGapMs = DefaultUtteranceGapMs
	}
	if c.ModulationDB <= 0 {
		c.ModulationDB = DefaultModulationDB
	}
	if c.ForegroundDB <= 0 {
		c.ForegroundDB = DefaultForegroundDB
	}
	return c
}

// SegmentFrame is the segmentation state after one frame. Times are audio
// milliseconds from the first frame; a frame's end is (index+1)·FrameMs.
type SegmentFrame struct {
	// Speech: this frame is voiced and belongs to a qualified word.
	Speech bool
	// InUtterance: an utterance is open (speech, or a pause shorter than
	// UtteranceGapMs after it).
	InUtterance bool
	// UtteranceStart is set on the frame where an utterance's first word
	// qualified (its start time, UtteranceStartMs, lies earlier).
	UtteranceStart bool
	// UtteranceEnd is set on the frame where the pause after an utterance
	// reached UtteranceGapMs.
	UtteranceEnd bool
	// WordStart is set on the frame where a word was counted.
	WordStart bool

	Words          int // words counted so far, all utterances
	Utterances     int // utterances begun so far
	UtteranceWords int // words in the current (or last) utterance

	SpeechMs  int64 // total voiced time of qualified words
	SilenceMs int64 // current run without qualified speech (from the start if none yet)

	FirstSpeechMs      int64 // start of the first word, −1 before any
	UtteranceStartMs   int64 // start of the current (or last) utterance
	UtteranceEndMs     int64 // end of its last voiced frame so far
	UtteranceSpeechMs  int64 // its voiced time
	UtterancePauseMs   int64 // its longest internal pause (between its words)
	PrevUtteranceEndMs int64 // end of the utterance before it, −1 if none
}

// NewSegmenter returns a Segmenter with cfg's zero fields defaulted.
func NewSegmenter(cfg SegmenterConfig) *Segmenter {
	s := &Segmenter{cfg: cfg.withDefaults()}
	c := s.cfg
	s.minWordF = ceilFrames(c.MinWordMs)
	s.wordGapF = ceilFrames(c.WordGapMs)
	s.maxWordF = ceilFrames(c.MaxWordMs)
	s.uttGapF = ceilFrames(c.UtteranceGapMs)
	s.Reset()
	return s
}

func ceilFrames(ms int) int { return (ms + FrameMs - 1) / FrameMs }

// Config returns the effective configuration.
func (s *Segmenter) Config() SegmenterConfig { return s.cfg }

// Reset forgets everything pushed so far.
func (s *Segmenter) Reset() {
	s.frame = 0
	s.open = false
	s.fg = math.Inf(-1)
	s.out = SegmentFrame{FirstSpeechMs: -1, PrevUtteranceEndMs: -1}
}

// Push adds one frame's VAD verdict. tonal marks frames a tone detector
// found dominated by a stationary tone: they are never speech.
func (s *Segmenter) Push(v VADFrame, tonal bool) SegmentFrame {
	o := &s.out
	o.Speech, o.UtteranceStart, o.UtteranceEnd, o.WordStart = false, false, false, false
	k := s.frame
	s.frame++
	endMs := int64(s.frame) * FrameMs

	// the foreground level fades slowly, so a new talker (or the same one,
	// quieter, minutes later) is not shut out for ever
	s.fg -= fgDecayDBPerFrame
	// A word that began as background and was then drowned by a talker
	// far louder (babble before the callee's "Hello?") is mixed: once the
	// talker stops, frames far below the foreground are the background
	// again and count as a gap, so the word ends with the talker.
	background := s.open && s.mixed && v.EnergyDB < s.fg-s.cfg.ForegroundDB-fgMixedExtraDB
	if v.Speech && !tonal && !background {
		s.voicedFrame(k, v)
	} else if s.open {
		s.gap++
		if s.gap >= s.wordGapF {
			s.open = false
		}
	}
	if o.Speech {
		o.SilenceMs = 0
		o.UtteranceEndMs = endMs
	} else {
		o.SilenceMs += FrameMs
		if o.InUtterance && o.SilenceMs >= int64(s.uttGapF)*FrameMs {
			o.InUtterance = false
			o.UtteranceEnd = true
			o.PrevUtteranceEndMs = o.UtteranceEndMs
		}
	}
	return *o
}

// voicedFrame handles a VAD speech frame k.
func (s *Segmenter) voicedFrame(k int, v VADFrame) {
	o := &s.out
	if !s.open {
		s.open = true
		s.start = k
		s.voiced, s.gap, s.wordLen = 0, 0, 0
		s.qualified, s.counted, s.mixed = false, false, false
		s.eMin, s.eMax = math.Inf(1), math.Inf(-1)
	} else if s.gap > 0 {
		// a short gap inside the burst: bridged, part of the word
		s.wordLen += s.gap
		s.gap = 0
	}
	if s.voiced > 0 {
		// the first frame is skipped: it straddles the onset and would make
		// a noise step look modulated
		s.eMin = math.Min(s.eMin, v.EnergyDB)
		s.eMax = math.Max(s.eMax, v.EnergyDB)
	}
	s.voiced++
	if s.wordLen >= s.maxWordF {
		s.wordLen, s.counted = 0, false
	}
	s.wordLen++

	if s.qualified && v.EnergyDB > s.fg {
		s.fg = v.EnergyDB
		// A talker 20 dB louder than what the word qualified on, arriving
		// after a long stretch of it: that stretch was background. (One
		// talker's words differ by less, and a weak start before a
		// stressed vowel lasts well under fgMixedMinFrames.)
		if s.fg > s.qualPeak+s.cfg.ForegroundDB+fgMixedExtraDB && k-s.start >= fgMixedMinFrames {
			s.mixed = true
		}
	}
	if !s.qualified {
		need := math.Max(s.cfg.ModulationDB, 2*v.NoiseSpreadDB)
		if s.voiced < s.minWordF || s.eMax-s.eMin < need || s.eMax < s.fg-s.cfg.ForegroundDB {
			return
		}
		s.qualified = true
		s.qualPeak = s.eMax
		s.fg = math.Max(s.fg, s.eMax)
		startMs := int64(s.start) * FrameMs
		if o.FirstSpeechMs < 0 {
			o.FirstSpeechMs = startMs
		}
		if !o.InUtterance {
			o.InUtterance = true
			o.UtteranceStart = true
			o.Utterances++
			o.UtteranceWords = 0
			o.UtteranceStartMs = startMs
			o.UtteranceSpeechMs = 0
			o.UtterancePauseMs = 0
		} else if pause := startMs - o.UtteranceEndMs; pause > o.UtterancePauseMs {
			o.UtterancePauseMs = pause
		}
		// the frames that waited for qualification were speech after all
		o.SpeechMs += int64(s.voiced-1) * FrameMs
		o.UtteranceSpeechMs += int64(s.voiced-1) * FrameMs
		o.SilenceMs = 0
	}
	o.Speech = true
	o.SpeechMs += FrameMs
	o.UtteranceSpeechMs += FrameMs
	if !s.counted && s.wordLen >= s.minWordF {
		s.counted = true
		o.Words++
		o.UtteranceWords++
		o.WordStart = true
	}
}
