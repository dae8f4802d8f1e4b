package engine

// EventType is the name of an AMD event, exactly as the API spells it.
type EventType string

// AMD events.
const (
	EventHumanDetected          EventType = "amd_human_detected"
	EventMachineDetected        EventType = "amd_machine_detected"
	EventNoSpeechDetected       EventType = "amd_no_speech_detected"
	EventDecisionTimeout        EventType = "amd_decision_timeout"
	EventMachineStoppedSpeaking EventType = "amd_machine_stopped_speaking"
	EventToneDetected           EventType = "amd_tone_detected"
	EventError                  EventType = "amd_error"
	EventStopped                EventType = "amd_stopped"
)

// EventTypes lists every AMD event, in a stable order, for metrics and validation.
var EventTypes = []EventType{
	EventHumanDetected, EventMachineDetected, EventNoSpeechDetected, EventDecisionTimeout,
	EventMachineStoppedSpeaking, EventToneDetected, EventError, EventStopped,
}

// Decision reports whether t is one of the four mutually exclusive verdicts.
func (t EventType) Decision() bool {
	switch t {
	case EventHumanDetected, EventMachineDetected, EventNoSpeechDetected, EventDecisionTimeout:
		return true
	}
	return false
}

// Reason explains an event in a word a program can switch on.
type Reason string

// Reasons carried by events.
const (
	ReasonShortGreeting Reason = "short_greeting" // human: brief greeting then silence
	ReasonLongGreeting  Reason = "long_greeting"  // machine: greeting longer than a person's
	ReasonWordCount     Reason = "word_count"     // machine: thresholdWordCount words reached
	ReasonBeep          Reason = "beep"           // machine/tone: voicemail beep
	ReasonFax           Reason = "fax"            // machine/tone: fax CED, CNG or V.21 preamble
	ReasonSIT           Reason = "sit"            // machine/tone: special information tones (carrier intercept)
	ReasonSilence       Reason = "silence"        // no speech / greeting ended in silence
	ReasonTimeout       Reason = "timeout"        // decision timeout, tone timeout
	ReasonStopped       Reason = "stopped"        // amd_stopped after a stop request or end of audio
	ReasonCompleted     Reason = "completed"      // amd_stopped after everything was decided
	ReasonMediaTimeout  Reason = "media_timeout"  // amd_error: no media
	ReasonMediaError    Reason = "media_error"    // amd_error: decode or transport failure
	ReasonGreetingEnded Reason = "greeting_ended" // machine stopped speaking: silence after greeting
	ReasonAudioEnded    Reason = "audio_ended"    // decision forced by the end of the audio (Finish) before a rule fired
)

// ToneKind says which kind of tone was heard.
type ToneKind string

// Tone kinds.
const (
	ToneBeep   ToneKind = "beep"
	ToneFaxCED ToneKind = "fax_ced"
	ToneFaxCNG ToneKind = "fax_cng"
	ToneV21    ToneKind = "fax_v21"
	ToneSIT    ToneKind = "sit"
)

// Event is one AMD event with the evidence behind it. Times are audio time in
// milliseconds from the first frame the detector was fed.
type Event struct {
	Type       EventType `json:"event"`
	AtMs       int64     `json:"atMs"`
	Reason     Reason    `json:"reason"`
	Confidence float64   `json:"confidence"`

	// Speech evidence.
	WordCount          int   `json:"wordCount"`
	GreetingDurationMs int64 `json:"greetingDurationMs"`
	SpeechMs           int64 `json:"speechMs"`
	InitialSilenceMs   int64 `json:"initialSilenceMs"`
	TrailingSilenceMs  int64 `json:"trailingSilenceMs"`

	// Tone evidence, set on tone-based events.
	ToneKind        ToneKind `json:"toneKind,omitempty"`
	ToneFrequencyHz float64  `json:"toneFrequencyHz,omitempty"`
	ToneDurationMs  int64    `json:"toneDurationMs,omitempty"`
	ToneOnsetMs     int64    `json:"toneOnsetMs,omitempty"`

	// Message is a human-readable detail, set on amd_error.
	Message string `json:"message,omitempty"`
}
