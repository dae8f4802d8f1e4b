package engine

import (
	"errors"
	"fmt"
)

// Mode is the dialout API's machineDetection value.
type Mode string

// Machine detection modes.
const (
	// ModeDetect reports AMD events only.
	ModeDetect Mode = "detect"
	// ModeDisconnect reports events and the daemon hangs up on a machine verdict or a beep.
	ModeDisconnect Mode = "disconnect"
	// ModeDisabled runs no detection.
	ModeDisabled Mode = "disabled"
)

// Defaults of the dialout API's timers and thresholds.
const (
	DefaultNoSpeechTimeoutMs           = 5000
	DefaultDecisionTimeoutMs           = 15000
	DefaultToneTimeoutMs               = 20000
	DefaultGreetingCompletionTimeoutMs = 2000
	// DefaultThresholdWordCount: a greeting of this many words or more is a
	// machine. 9 is the Voice Gateway (jambonz) default, so applications that
	// send none get the behaviour they were tuned for.
	DefaultThresholdWordCount = 9
	DefaultMode               = ModeDetect

	// maxTimerMs bounds every timer so a typo cannot keep a call's detector alive for days.
	maxTimerMs = 10 * 60 * 1000
	// maxThresholdWordCount bounds thresholdWordCount to something a greeting can hold.
	maxThresholdWordCount = 100
)

// Timers are the dialout API's `timers` object; zero fields take the defaults.
type Timers struct {
	NoSpeechTimeoutMs           int `json:"noSpeechTimeoutMs,omitempty" yaml:"no_speech_timeout_ms"`
	DecisionTimeoutMs           int `json:"decisionTimeoutMs,omitempty" yaml:"decision_timeout_ms"`
	ToneTimeoutMs               int `json:"toneTimeoutMs,omitempty" yaml:"tone_timeout_ms"`
	GreetingCompletionTimeoutMs int `json:"greetingCompletionTimeoutMs,omitempty" yaml:"greeting_completion_timeout_ms"`
}

// Config is one call's AMD configuration, with the dialout API's names.
type Config struct {
	Mode               Mode   `json:"machineDetection,omitempty" yaml:"machine_detection"`
	ThresholdWordCount int    `json:"thresholdWordCount,omitempty" yaml:"threshold_word_count"`
	Timers             Timers `json:"timers" yaml:"timers"`
}

// ErrInvalidConfig is wrapped by every validation error; the message names the field.
var ErrInvalidConfig = errors.New("invalid AMD config")

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Mode == "" {
		c.Mode = DefaultMode
	}
	if c.ThresholdWordCount == 0 {
		c.ThresholdWordCount = DefaultThresholdWordCount
	}
	t := &c.Timers
	if t.NoSpeechTimeoutMs == 0 {
		t.NoSpeechTimeoutMs = DefaultNoSpeechTimeoutMs
	}
	if t.DecisionTimeoutMs == 0 {
		t.DecisionTimeoutMs = DefaultDecisionTimeoutMs
	}
	if t.ToneTimeoutMs == 0 {
		t.ToneTimeoutMs = DefaultToneTimeoutMs
	}
	if t.GreetingCompletionTimeoutMs == 0 {
		t.GreetingCompletionTimeoutMs = DefaultGreetingCompletionTimeoutMs
	}
	return c
}

// Validate reports the first invalid field of c (after defaults are applied).
func (c Config) Validate() error {
	switch c.Mode {
	case ModeDetect, ModeDisconnect, ModeDisabled, "":
	default:
		return fmt.Errorf("%w: machineDetection %q: want detect, disconnect or disabled", ErrInvalidConfig, c.Mode)
	}
	if c.ThresholdWordCount < 0 || c.ThresholdWordCount > maxThresholdWordCount {
		return fmt.Errorf("%w: thresholdWordCount %d: want 1..%d", ErrInvalidConfig, c.ThresholdWordCount, maxThresholdWordCount)
	}
	timers := []struct {
		name string
		v    int
	}{
		{"timers.noSpeechTimeoutMs", c.Timers.NoSpeechTimeoutMs},
		{"timers.decisionTimeoutMs", c.Timers.DecisionTimeoutMs},
		{"timers.toneTimeoutMs", c.Timers.ToneTimeoutMs},
		{"timers.greetingCompletionTimeoutMs", c.Timers.GreetingCompletionTimeoutMs},
	}
	for _, tm := range timers {
		if tm.v < 0 || tm.v > maxTimerMs {
			return fmt.Errorf("%w: %s %d: want 0..%d", ErrInvalidConfig, tm.name, tm.v, maxTimerMs)
		}
	}
	return nil
}
