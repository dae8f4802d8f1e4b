package engine

import (
	"math"

	"github.com/amd-engine/amd/dsp"
)

// Confidence is computed from margins: how far past its thresholds the
// evidence behind an event is, mapped into [0, 1]. A verdict that only just
// cleared its rule sits near 0.5; one with a wide margin on every measure
// approaches 1. Nothing here is a constant per event type.

func clamp01(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return math.Max(0, math.Min(1, x))
}

// ramp maps x from [lo, hi] onto [0, 1], clamped.
func ramp(x, lo, hi float64) float64 { return clamp01((x - lo) / (hi - lo)) }

// clarity says how clearly the greeting stood out of the line: 0 at the
// VAD's onset margin (6 dB over the floor), 1 at 30 dB.
func (d *Detector) clarity() float64 { return ramp(d.peakSNR, 6, 30) }

// humanConfidence: a short greeting (well under HumanMaxGreetingMs), few
// words against the threshold, clearly heard.
func (d *Detector) humanConfidence(s dsp.SegmentFrame) float64 {
	short := 1 - ramp(float64(s.SpeechMs), MinHumanSpeechMs, LongGreetingMs)
	words := 1 - ramp(float64(s.Words), 1, float64(d.cfg.ThresholdWordCount))
	return 0.5 + 0.5*(0.5*short+0.25*words+0.25*d.clarity())
}

// machineConfidence: greeting speech beyond a person's, and words beyond
// the threshold.
func (d *Detector) machineConfidence(s dsp.SegmentFrame) float64 {
	long := ramp(float64(s.SpeechMs), HumanMaxGreetingMs, 2*LongGreetingMs)
	words := ramp(float64(s.Words), float64(d.cfg.ThresholdWordCount)/2, 2*float64(d.cfg.ThresholdWordCount))
	return 0.5 + 0.5*(0.5*long+0.3*words+0.2*d.clarity())
}

// toneConfidence: a tone heard for longer than its confirmation (~80 ms)
// is surer; a beep after a greeting is what a voicemail does.
func (d *Detector) toneConfidence(tr dsp.ToneResult) float64 {
	dur := ramp(float64(tr.DurationMs), 60, 400)
	greeting := ramp(float64(d.seg0.SpeechMs), 0, HumanMaxGreetingMs)
	if tr.Detected != dsp.ToneBeep {
		greeting = 1 // fax and SIT need no greeting to be what they are
	}
	return 0.6 + 0.4*(0.6*dur+0.4*greeting)
}

// noSpeechConfidence: how little the VAD ever heard, relative to the time
// listened.
func (d *Detector) noSpeechConfidence(now int64) float64 {
	if now <= 0 {
		return 0.5
	}
	heard := ramp(float64(d.vadMs), 0, float64(MinHumanSpeechMs)*2)
	listened := ramp(float64(now), 0, float64(d.cfg.Timers.NoSpeechTimeoutMs))
	return 0.5 + 0.5*(1-heard)*listened
}

// timeoutConfidence: how far every rule still was from firing.
func (d *Detector) timeoutConfidence(s dsp.SegmentFrame) float64 {
	progress := math.Max(
		float64(s.SpeechMs)/LongGreetingMs,
		math.Max(float64(s.Words)/float64(d.cfg.ThresholdWordCount),
			float64(s.SilenceMs)/float64(requiredSilenceMs(s))))
	return 1 - clamp01(progress)
}

// greetingEndConfidence: the greeting was long and the silence after it is
// complete.
func (d *Detector) greetingEndConfidence(s dsp.SegmentFrame) float64 {
	return 0.5 + 0.5*ramp(float64(s.SpeechMs), MinHumanSpeechMs, 2*LongGreetingMs)
}
