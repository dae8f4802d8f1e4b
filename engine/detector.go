package engine

import (
	"fmt"

	"github.com/amd-engine/amd/dsp"
)

// ToneSource is the tone detector the Detector consults every frame;
// *dsp.ToneDetector satisfies it. If it also has Reset() or
// SetLossyCodec(bool), the Detector uses them.
type ToneSource interface {
	Process(frame []int16) dsp.ToneResult
}

// Option adjusts a Detector at construction.
type Option func(*Detector)

// WithToneSource replaces the default dsp.ToneDetector (tests, or a shared
// pre-computed tone track).
func WithToneSource(ts ToneSource) Option {
	return func(d *Detector) { d.tone = ts }
}

// WithLossyCodec tells the tone detector the audio went through a lossy
// codec (Opus), whose pitch drift and packet-loss concealment it must
// tolerate; PCM and G.711 are not lossy in this sense. It applies to any
// tone source with a SetLossyCodec(bool) method (dsp.ToneDetector has one)
// and is ignored otherwise. The daemon knows the negotiated codec; file
// analysis knows the container.
func WithLossyCodec(lossy bool) Option {
	return func(d *Detector) { d.lossy = &lossy }
}

// phase is where the Detector stands in a call.
type phase uint8

const (
	phaseListening phase = iota // no decision yet
	phaseMachine                // machine verdict: waiting for the greeting end and the beep
	phaseHuman                  // human verdict: listening for a late beep (see rules.go)
	phaseDone                   // amd_stopped emitted
)

// maxEventsPerFrame bounds what one call can emit at once: a decision,
// machine_stopped_speaking, tone_detected, stopped (error+stopped on Fail).
const maxEventsPerFrame = 4

// Detector is one call's answering-machine detector: 20 ms frames in,
// AMD events out, in audio time. It is owned by one goroutine (the call's)
// and allocates nothing per frame.
type Detector struct {
	cfg  Config
	vad  *dsp.VAD
	seg  *dsp.Segmenter
	tone ToneSource

	frames     int64
	phase      phase
	wordRuleMs int64 // greeting time the word rule needs (see WordRuleMsPerWord)
	lossy      *bool // WithLossyCodec, nil when not given

	seg0     dsp.SegmentFrame // segmentation after the last frame
	trace    FrameTrace       // the stages' view of the last frame
	soundRun int64            // ms of consecutive frames with sound that is not (yet) speech

	// a beep heard inside speech, held until it is clear what it was
	pending    dsp.ToneResult
	pendingAt  int64   // when it was confirmed
	pendingEnd int64   // when it ended, 0 while sounding
	peakSNR    float64 // highest frame SNR heard in speech
	vadMs      int64   // ms the VAD called speech, qualified or not

	// the verdict
	decision     EventType
	decisionConf float64
	machineAtMs  int64
	stoppedSpk   bool
	humanAtMs    int64 // when the human verdict fell

	out [maxEventsPerFrame]Event
	n   int
}

// NewDetector returns a Detector for one call; cfg gets WithDefaults and must
// Validate.
func NewDetector(cfg Config, opts ...Option) (*Detector, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new detector: %w", err)
	}
	d := &Detector{cfg: cfg, wordRuleMs: min(int64(cfg.ThresholdWordCount)*WordRuleMsPerWord, LongGreetingMs)}
	for _, o := range opts {
		o(d)
	}
	if cfg.Mode != ModeDisabled {
		d.vad = dsp.NewVAD()
		d.seg = dsp.NewSegmenter(dsp.SegmenterConfig{UtteranceGapMs: HumanSilenceMs})
		if d.tone == nil {
			d.tone = dsp.NewToneDetector()
		}
		if l, ok := d.tone.(interface{ SetLossyCodec(bool) }); ok && d.lossy != nil {
			l.SetLossyCodec(*d.lossy)
		}
	}
	d.Reset()
	return d, nil
}

// Reset makes the Detector ready for a new call with the same configuration
// (audio time restarts at 0), without allocating.
func (d *Detector) Reset() {
	if d.vad != nil {
		d.vad.Reset()
		d.seg.Reset()
	}
	if r, ok := d.tone.(interface{ Reset() }); ok {
		r.Reset()
	}
	d.frames, d.phase = 0, phaseListening
	d.seg0 = dsp.SegmentFrame{FirstSpeechMs: -1, PrevUtteranceEndMs: -1}
	d.trace = FrameTrace{}
	d.soundRun, d.peakSNR, d.vadMs = 0, 0, 0
	d.pending, d.pendingAt, d.pendingEnd = dsp.ToneResult{}, 0, 0
	d.decision, d.decisionConf, d.machineAtMs, d.stoppedSpk = "", 0, 0, false
	d.humanAtMs = 0
	d.n = 0
}

// Config returns the effective configuration (defaults applied).
func (d *Detector) Config() Config { return d.cfg }

// NowMs returns the audio time fed so far.
func (d *Detector) NowMs() int64 { return d.frames * dsp.FrameMs }

// Done reports whether amd_stopped has been emitted.
func (d *Detector) Done() bool { return d.phase == phaseDone }

// Decision returns the verdict so far (empty before one).
func (d *Detector) Decision() EventType { return d.decision }

// FrameTrace is what the detector's stages made of the last frame, for
// plots and tuning tools that want exactly what the Detector saw.
type FrameTrace struct {
	VAD     dsp.VADFrame
	Segment dsp.SegmentFrame
	Tone    dsp.ToneResult
}

// LastFrame returns the stages' view of the last frame Process consumed
// (zero before the first, and in ModeDisabled).
func (d *Detector) LastFrame() FrameTrace { return d.trace }

// Process consumes one 160-sample frame and returns the events it caused: a
// view into a buffer the next call reuses.
func (d *Detector) Process(frame []int16) []Event {
	d.n = 0
	if d.phase == phaseDone {
		return d.out[:0]
	}
	d.frames++
	if d.cfg.Mode == ModeDisabled {
		return d.out[:0]
	}
	v := d.vad.Process(frame)
	tr := d.tone.Process(frame)
	s := d.seg.Push(v, tr.Tonal)
	d.seg0 = s
	d.trace = FrameTrace{VAD: v, Segment: s, Tone: tr}
	// Something is sounding that is not (yet) a word: a tone being
	// confirmed, a burst the segmenter has not qualified, an onset. The
	// human rule waits for it to resolve.
	if tr.Tonal || v.Speech || v.SNRDB >= v.NoiseSpreadDB+soundOnsetDB {
		d.soundRun += dsp.FrameMs
	} else {
		d.soundRun = 0
	}
	if v.Speech && !tr.Tonal {
		d.vadMs += dsp.FrameMs
		if s.Speech && v.SNRDB > d.peakSNR {
			d.peakSNR = v.SNRDB
		}
	}
	tr = d.screenTone(s, tr)
	switch d.phase {
	case phaseListening:
		d.listen(s, tr)
	case phaseMachine:
		d.afterMachine(s, tr)
	case phaseHuman:
		d.afterHuman(s, tr)
	}
	return d.out[:d.n]
}

// screenTone holds back a beep that started while someone was talking (see
// inSpeech) until it is clear what it was: if speech carries on after it,
// it was a held vowel or a whistle and is dropped; if BeepConfirmMs of
// quiet follow its end (a machine records after its beep), it is reported
// then, with its true onset. It returns the tone result the rules see.
func (d *Detector) screenTone(s dsp.SegmentFrame, tr dsp.ToneResult) dsp.ToneResult {
	now := d.NowMs()
	eff := tr
	if d.pending.Detected == dsp.ToneNone {
		if tr.Detected == dsp.ToneBeep && d.inSpeech(s, tr) {
			d.pending, d.pendingAt, d.pendingEnd = tr, now, 0
			if tr.Ended != dsp.ToneNone {
				d.pendingEnd = now
			}
			eff.Detected = dsp.ToneNone
		}
		return eff
	}
	if tr.Ended != dsp.ToneNone && d.pendingEnd == 0 {
		d.pendingEnd = now
		if tr.DurationMs > 0 {
			d.pending.DurationMs = tr.DurationMs
		}
	}
	eff.Detected = dsp.ToneNone
	switch {
	case s.UtteranceEndMs > d.pending.OnsetMs+d.pending.DurationMs:
		// the talker went on: it was part of their speech
		d.pending = dsp.ToneResult{}
	case (d.pendingEnd > 0 && now-d.pendingEnd >= BeepConfirmMs) || now-d.pendingAt >= MaxBeepHoldMs:
		eff = d.pending
		d.pending = dsp.ToneResult{}
	}
	return eff
}

// listen applies the decision rules (see rules.go) in order.
func (d *Detector) listen(s dsp.SegmentFrame, tr dsp.ToneResult) {
	now := d.NowMs()
	c := d.cfg
	switch {
	case tr.Detected != dsp.ToneNone:
		reason := toneReason(tr.Detected)
		ev := d.decide(EventMachineDetected, reason, d.toneConfidence(tr))
		setTone(ev, tr)
		d.toneDetected(tr)
		d.stop(ReasonCompleted)
	case s.Words >= c.ThresholdWordCount && s.UtteranceEndMs-s.FirstSpeechMs >= d.wordRuleMs:
		d.decide(EventMachineDetected, ReasonWordCount, d.machineConfidence(s))
		d.machineAtMs = now
		d.phase = phaseMachine
	case s.SpeechMs >= LongGreetingMs:
		d.decide(EventMachineDetected, ReasonLongGreeting, d.machineConfidence(s))
		d.machineAtMs = now
		d.phase = phaseMachine
	case s.SpeechMs >= MinHumanSpeechMs && s.SilenceMs >= requiredSilenceMs(s) &&
		(d.soundRun == 0 || d.soundRun > MaxSoundDeferMs) && d.pending.Detected == dsp.ToneNone:
		d.decide(EventHumanDetected, ReasonShortGreeting, d.humanConfidence(s))
		d.humanAtMs = now
		d.phase = phaseHuman
	case s.SpeechMs < MinHumanSpeechMs && !s.InUtterance && now >= int64(c.Timers.NoSpeechTimeoutMs) &&
		(d.soundRun == 0 || d.soundRun > MaxSoundDeferMs) && d.pending.Detected == dsp.ToneNone:
		d.decide(EventNoSpeechDetected, ReasonSilence, d.noSpeechConfidence(now))
		d.stop(ReasonCompleted)
	case now >= int64(c.Timers.DecisionTimeoutMs):
		d.decide(EventDecisionTimeout, ReasonTimeout, d.timeoutConfidence(s))
		d.stop(ReasonCompleted)
	}
}

// inSpeech reports whether a confirmed beep started while someone was
// talking: speech ran up to within BeepSpeechGapMs of its onset. A
// voicemail beep follows its greeting after a pause; a "beep" inside a word
// may be a held vowel, a whistle or a sung note, and calling it a machine
// would hang up on a person — so such a beep is held (screenTone). Fax and
// SIT tones are distinctive enough to stand.
func (d *Detector) inSpeech(s dsp.SegmentFrame, tr dsp.ToneResult) bool {
	return tr.Detected == dsp.ToneBeep && s.FirstSpeechMs >= 0 &&
		s.UtteranceEndMs > tr.OnsetMs-BeepSpeechGapMs
}

// requiredSilenceMs is the silence after a greeting that makes it a
// person's: OpenerSilenceMs after a lone opener word, else HumanSilenceMs up
// to HumanMaxGreetingMs of speech, then growing to AmbiguousSilenceMs at
// LongGreetingMs.
func requiredSilenceMs(s dsp.SegmentFrame) int64 {
	speechMs := s.SpeechMs
	if s.Utterances == 1 && speechMs <= OpenerMaxMs {
		return OpenerSilenceMs
	}
	if speechMs <= HumanMaxGreetingMs {
		return HumanSilenceMs
	}
	over := min(speechMs-HumanMaxGreetingMs, LongGreetingMs-HumanMaxGreetingMs)
	return HumanSilenceMs + over*(AmbiguousSilenceMs-HumanSilenceMs)/(LongGreetingMs-HumanMaxGreetingMs)
}

// afterMachine follows a machine's greeting to its end and its beep.
func (d *Detector) afterMachine(s dsp.SegmentFrame, tr dsp.ToneResult) {
	now := d.NowMs()
	if tr.Detected != dsp.ToneNone && now-d.machineAtMs <= int64(d.cfg.Timers.ToneTimeoutMs) {
		if !d.stoppedSpk {
			ev := d.emit(EventMachineStoppedSpeaking, toneReason(tr.Detected), d.toneConfidence(tr))
			setTone(ev, tr)
			d.stoppedSpk = true
		}
		d.toneDetected(tr)
		d.stop(ReasonCompleted)
		return
	}
	if !d.stoppedSpk && s.SilenceMs >= int64(d.cfg.Timers.GreetingCompletionTimeoutMs) {
		d.emit(EventMachineStoppedSpeaking, ReasonGreetingEnded, d.greetingEndConfidence(s))
		d.stoppedSpk = true
	}
	if now-d.machineAtMs >= int64(d.cfg.Timers.ToneTimeoutMs) {
		d.stop(ReasonTimeout)
	}
}

// afterHuman listens, after a human verdict, for the beep of a recording
// that opened like a person ("Yeah, hello? … I'm not here, leave a
// message") or whose greeting ended just before the human rule's silence ran
// out ("Leave a message." … beep). Such a beep is reported as
// amd_tone_detected — the verdict stands (exactly one decision), the
// application learns its caller is talking to a recording — when it follows
// speech as a recording's beep follows its greeting: between LateBeepGapMs
// and LateBeepMaxGapMs after the last word, while toneTimeoutMs (counted from
// the verdict) has not passed. A tone that starts as a word fades is a held
// vowel; one long after the last word is not a greeting's beep. Only beeps
// count: fax and SIT tones do not follow a spoken greeting. The held-beep
// screening of rule 1 applies.
func (d *Detector) afterHuman(s dsp.SegmentFrame, tr dsp.ToneResult) {
	now := d.NowMs()
	if gap := tr.OnsetMs - s.UtteranceEndMs; tr.Detected == dsp.ToneBeep && gap >= LateBeepGapMs &&
		gap <= LateBeepMaxGapMs && now-d.humanAtMs <= int64(d.cfg.Timers.ToneTimeoutMs) {
		d.toneDetected(tr)
		d.stop(ReasonCompleted)
		return
	}
	if now-d.humanAtMs >= int64(d.cfg.Timers.ToneTimeoutMs) {
		d.stop(ReasonTimeout)
	}
}

// Finish ends the audio (file end, callee hung up). Without a decision it
// decides from the evidence so far (reason audio_ended); then amd_stopped.
func (d *Detector) Finish() []Event {
	d.n = 0
	if d.phase == phaseDone {
		return d.out[:0]
	}
	if d.phase == phaseListening && d.cfg.Mode != ModeDisabled {
		s := d.seg0
		switch {
		case s.SpeechMs < MinHumanSpeechMs:
			d.decide(EventNoSpeechDetected, ReasonAudioEnded, d.noSpeechConfidence(d.NowMs()))
		case s.SpeechMs <= (HumanMaxGreetingMs+LongGreetingMs)/2 && s.Words < d.cfg.ThresholdWordCount:
			d.decide(EventHumanDetected, ReasonAudioEnded, 0.5*d.humanConfidence(s))
		default:
			d.decide(EventMachineDetected, ReasonAudioEnded, 0.5+0.5*(d.machineConfidence(s)-0.5))
		}
	}
	d.stop(ReasonStopped)
	return d.out[:d.n]
}

// Stop handles an amd.stop request: amd_stopped now, no decision invented.
func (d *Detector) Stop() []Event {
	d.n = 0
	if d.phase == phaseDone {
		return d.out[:0]
	}
	d.stop(ReasonStopped)
	return d.out[:d.n]
}

// Fail reports a media failure: amd_error with reason and msg, then
// amd_stopped with the same reason.
func (d *Detector) Fail(reason Reason, msg string) []Event {
	d.n = 0
	if d.phase == phaseDone {
		return d.out[:0]
	}
	ev := d.emit(EventError, reason, d.decisionConf)
	ev.Message = msg
	d.stop(reason)
	return d.out[:d.n]
}

// emit appends an event with the speech evidence filled in.
func (d *Detector) emit(t EventType, reason Reason, conf float64) *Event {
	s := &d.seg0
	ev := &d.out[d.n]
	d.n++
	*ev = Event{
		Type:       t,
		AtMs:       d.NowMs(),
		Reason:     reason,
		Confidence: clamp01(conf),
		WordCount:  s.Words,
		SpeechMs:   s.SpeechMs,
	}
	if s.FirstSpeechMs >= 0 {
		ev.InitialSilenceMs = s.FirstSpeechMs
		ev.GreetingDurationMs = s.UtteranceEndMs - s.FirstSpeechMs
		ev.TrailingSilenceMs = s.SilenceMs
	} else {
		ev.InitialSilenceMs = d.NowMs()
	}
	return ev
}

func (d *Detector) decide(t EventType, reason Reason, conf float64) *Event {
	d.decision = t
	d.decisionConf = clamp01(conf)
	return d.emit(t, reason, conf)
}

func (d *Detector) toneDetected(tr dsp.ToneResult) {
	ev := d.emit(EventToneDetected, toneReason(tr.Detected), d.toneConfidence(tr))
	setTone(ev, tr)
}

// stop emits amd_stopped, the last event; it carries the verdict's
// confidence (0 without a verdict).
func (d *Detector) stop(reason Reason) {
	d.emit(EventStopped, reason, d.decisionConf)
	d.phase = phaseDone
}

func setTone(ev *Event, tr dsp.ToneResult) {
	ev.ToneKind = toneKind(tr.Detected)
	ev.ToneFrequencyHz = tr.FreqHz
	ev.ToneDurationMs = tr.DurationMs
	ev.ToneOnsetMs = tr.OnsetMs
}

func toneKind(k dsp.ToneKind) ToneKind {
	switch k {
	case dsp.ToneBeep:
		return ToneBeep
	case dsp.ToneFaxCED:
		return ToneFaxCED
	case dsp.ToneFaxCNG:
		return ToneFaxCNG
	case dsp.ToneV21:
		return ToneV21
	case dsp.ToneSIT:
		return ToneSIT
	}
	return ""
}

func toneReason(k dsp.ToneKind) Reason {
	switch k {
	case dsp.ToneFaxCED, dsp.ToneFaxCNG, dsp.ToneV21:
		return ReasonFax
	case dsp.ToneSIT:
		return ReasonSIT
	}
	return ReasonBeep
}
