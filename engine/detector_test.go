package engine_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/engine/enginetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run feeds pcm to a new detector frame by frame, then Finish if it is not
// done, and returns every event.
func run(t testing.TB, cfg engine.Config, pcm []int16, opts ...engine.Option) []engine.Event {
	t.Helper()
	d, err := engine.NewDetector(cfg, opts...)
	if err != nil {
		t.Fatalf("NewDetector: %v", err)
	}
	var evs []engine.Event
	frame := make([]int16, dsp.FrameSamples)
	for off := 0; off < len(pcm) && !d.Done(); off += dsp.FrameSamples {
		n := copy(frame, pcm[off:])
		clear(frame[n:])
		evs = append(evs, d.Process(frame)...)
		if got := d.NowMs(); got != int64(off/dsp.FrameSamples+1)*dsp.FrameMs {
			t.Fatalf("NowMs %d after %d frames", got, off/dsp.FrameSamples+1)
		}
	}
	if !d.Done() {
		evs = append(evs, d.Finish()...)
	}
	if !d.Done() {
		t.Fatalf("not done after Finish")
	}
	return evs
}

// seq renders events as "type(reason)" for comparison.
func seq(evs []engine.Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, fmt.Sprintf("%s(%s)", strings.TrimPrefix(string(e.Type), "amd_"), e.Reason))
	}
	return strings.Join(b, " ")
}

func find(evs []engine.Event, t engine.EventType) (engine.Event, bool) {
	for _, e := range evs {
		if e.Type == t {
			return e, true
		}
	}
	return engine.Event{}, false
}

// checkInvariants: exactly one decision (unless stopped early), amd_stopped
// last and only once, confidences in [0, 1], times non-decreasing.
func checkInvariants(t *testing.T, evs []engine.Event, wantDecision bool) {
	t.Helper()
	decisions, stops := 0, 0
	var last int64
	for i, e := range evs {
		if e.Type.Decision() {
			decisions++
		}
		if e.Type == engine.EventStopped {
			stops++
			if i != len(evs)-1 {
				t.Errorf("amd_stopped is not last: %s", seq(evs))
			}
		}
		if e.Confidence < 0 || e.Confidence > 1 {
			t.Errorf("%s confidence %v outside [0,1]", e.Type, e.Confidence)
		}
		if e.AtMs < last {
			t.Errorf("event times go backwards: %s", seq(evs))
		}
		last = e.AtMs
	}
	if stops != 1 {
		t.Errorf("%d amd_stopped events: %s", stops, seq(evs))
	}
	if wantDecision && decisions != 1 {
		t.Errorf("%d decisions: %s", decisions, seq(evs))
	}
}

type scenario struct {
	name  string
	cfg   engine.Config
	build func(c *enginetest.Call) []int16
	want  string
	check func(t *testing.T, c *enginetest.Call, evs []engine.Event)
}

// decidedAt asserts the decision time lies within [lo, hi] ms of ref.
func decidedAt(t *testing.T, evs []engine.Event, ref, lo, hi int64) {
	t.Helper()
	for _, e := range evs {
		if e.Type.Decision() {
			if d := e.AtMs - ref; d < lo || d > hi {
				t.Errorf("decision %s at %d ms: %d ms after %d, want %d..%d", e.Type, e.AtMs, d, ref, lo, hi)
			}
			return
		}
	}
	t.Errorf("no decision")
}

func scenarios() []scenario {
	afterFirst := func(lo, hi int64) func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
		return func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
			decidedAt(t, evs, c.Spans()[0][1], lo, hi)
		}
	}
	return []scenario{
		{
			name: "human hello",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(700).Say(1, -20).Silence(3000).Render(enginetest.NoisePink, -55)
			},
			want:  "human_detected(short_greeting) stopped(stopped)",
			check: afterFirst(OpenerLo, OpenerHi),
		},
		{
			name: "person naming themselves at length",
			build: func(c *enginetest.Call) []int16 {
				c.Silence(800)
				for i := 0; i < 7; i++ {
					c.Syllable(280, -20).Silence(40)
				}
				return c.Silence(3000).Render(enginetest.NoisePink, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				sp := c.Spans()
				decidedAt(t, evs, sp[len(sp)-1][1], HumanLo, HumanHi)
			},
		},
		{
			name: "curt one-syllable answer",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(1200).Syllable(120, -22).Silence(4000).Render(enginetest.NoisePink, -50)
			},
			want:  "human_detected(short_greeting) stopped(stopped)",
			check: afterFirst(OpenerLo, OpenerHi),
		},
		{
			name: "human quiet in brown noise",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(900).Say(4, -35).Silence(3000).Render(enginetest.NoiseBrown, -40)
			},
			want:  "human_detected(short_greeting) stopped(stopped)",
			check: afterFirst(HumanLo, HumanHi),
		},
		{
			name: "human hot clean",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(300).Say(3, -10).Silence(2500).Render(enginetest.NoiseNone, 0)
			},
			want:  "human_detected(short_greeting) stopped(stopped)",
			check: afterFirst(HumanLo, HumanHi),
		},
		{
			name: "human says hello twice",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(1, -22).Silence(1500).Say(1, -22).Silence(2000).Render(enginetest.NoiseWhite, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
			// the second hello settles it: a person, decided as after any short greeting
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				decidedAt(t, evs, c.Spans()[1][1], HumanLo, HumanHi)
			},
		},
		{
			name: "recording that opens like a person",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(500).Say(1, -20).Silence(1500).Greeting(-20, 4, 5, 4).Silence(400).Tone(1000, 500, -18).Silence(2000).Render(enginetest.NoisePink, -50)
			},
			want: "machine_detected(long_greeting) machine_stopped_speaking(beep) tone_detected(beep) stopped(completed)",
		},
		{
			name: "human hello twice quickly",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(1, -22).Silence(500).Say(1, -22).Silence(3000).Render(enginetest.NoiseWhite, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
			// "Hello, hello?" is one utterance: short enough to be an opener or not
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				decidedAt(t, evs, c.Spans()[1][1], HumanLo, OpenerHi)
			},
		},
		{
			name: "voicemail with beep",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(500).Greeting(-20, 4, 6, 5).Silence(400).Tone(1000, 500, -18).Silence(2000).Render(enginetest.NoisePink, -50)
			},
			want: "machine_detected(long_greeting) machine_stopped_speaking(beep) tone_detected(beep) stopped(completed)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				m, _ := find(evs, engine.EventMachineDetected)
				if m.AtMs > c.Spans()[0][0]+4500 || m.WordCount < 5 || m.SpeechMs != engine.LongGreetingMs {
					t.Errorf("machine verdict %+v", m)
				}
				tone, _ := find(evs, engine.EventToneDetected)
				beepAt := c.Spans()[len(c.Spans())-1][1] + 400
				if tone.ToneKind != engine.ToneBeep || tone.ToneOnsetMs < beepAt-40 || tone.ToneOnsetMs > beepAt+60 ||
					tone.ToneFrequencyHz < 990 || tone.ToneFrequencyHz > 1010 || tone.AtMs > beepAt+300 {
					t.Errorf("tone event %+v, beep at %d ms", tone, beepAt)
				}
			},
		},
		{
			name: "machine greeting without beep",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(400).Greeting(-25, 6, 7).Silence(3000).Render(enginetest.NoiseWhite, -50)
			},
			want: "machine_detected(long_greeting) machine_stopped_speaking(greeting_ended) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				e, _ := find(evs, engine.EventMachineStoppedSpeaking)
				end := c.Spans()[len(c.Spans())-1][1]
				if d := e.AtMs - end; d < engine.DefaultGreetingCompletionTimeoutMs || d > engine.DefaultGreetingCompletionTimeoutMs+150 {
					t.Errorf("stopped speaking %d ms after the greeting, want the completion timeout (%d)", d, engine.DefaultGreetingCompletionTimeoutMs)
				}
				if e.TrailingSilenceMs < engine.DefaultGreetingCompletionTimeoutMs {
					t.Errorf("trailing silence %d", e.TrailingSilenceMs)
				}
			},
		},
		{
			name: "tone timeout passes without a beep",
			cfg:  engine.Config{Timers: engine.Timers{ToneTimeoutMs: 4000, GreetingCompletionTimeoutMs: 1000}},
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(400).Greeting(-20, 5, 6).Silence(8000).Render(enginetest.NoisePink, -50)
			},
			want: "machine_detected(long_greeting) machine_stopped_speaking(greeting_ended) stopped(timeout)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				m, _ := find(evs, engine.EventMachineDetected)
				s, _ := find(evs, engine.EventStopped)
				if s.AtMs-m.AtMs != 4000 {
					t.Errorf("stopped %d ms after the verdict, want the 4000 ms tone timeout", s.AtMs-m.AtMs)
				}
				e, _ := find(evs, engine.EventMachineStoppedSpeaking)
				if d := e.AtMs - c.Spans()[len(c.Spans())-1][1]; d < 1000 || d > 1150 {
					t.Errorf("greeting end reported after %d ms of silence, want 1000", d)
				}
			},
		},
		{
			name: "word threshold reached with a long greeting",
			cfg:  engine.Config{ThresholdWordCount: 5},
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(400).Greeting(-20, 7, 7).Silence(2500).Render(enginetest.NoisePink, -50)
			},
			want: "machine_detected(word_count) machine_stopped_speaking(greeting_ended) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if evs[0].WordCount < 5 || evs[0].GreetingDurationMs < 5*engine.WordRuleMsPerWord || evs[0].SpeechMs >= engine.LongGreetingMs {
					t.Errorf("word rule with %d words, %d ms of greeting, %d ms of speech", evs[0].WordCount, evs[0].GreetingDurationMs, evs[0].SpeechMs)
				}
			},
		},
		{
			name: "long greeting beyond a high word threshold",
			cfg:  engine.Config{ThresholdWordCount: 40},
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(400).Greeting(-20, 8, 8, 8).Silence(3000).Render(enginetest.NoiseNone, 0)
			},
			want: "machine_detected(long_greeting) machine_stopped_speaking(greeting_ended) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				m, _ := find(evs, engine.EventMachineDetected)
				// a word qualifies with its first frames at once, so speech can step past the limit by a few frames
				if m.SpeechMs < engine.LongGreetingMs || m.SpeechMs > engine.LongGreetingMs+100 {
					t.Errorf("long greeting verdict with %d ms of speech", m.SpeechMs)
				}
			},
		},
		{
			name: "human answers with a name",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(6, -20).Silence(3000).Render(enginetest.NoiseWhite, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				// an ambiguous-length greeting may wait longer than a "Hello?"
				decidedAt(t, evs, c.Spans()[0][1], HumanLo, engine.AmbiguousSilenceMs+200)
				if evs[0].WordCount < 3 {
					t.Errorf("only %d words counted in a six-word greeting", evs[0].WordCount)
				}
			},
		},
		{
			name: "low word threshold decides sooner",
			cfg:  engine.Config{ThresholdWordCount: 3},
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(400).Greeting(-20, 7, 6).Silence(2500).Render(enginetest.NoiseWhite, -55)
			},
			want: "machine_detected(word_count) machine_stopped_speaking(greeting_ended) stopped(stopped)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if evs[0].SpeechMs >= engine.LongGreetingMs || evs[0].GreetingDurationMs < 3*engine.WordRuleMsPerWord || evs[0].WordCount < 3 {
					t.Errorf("word rule at %d ms of greeting, %d words; want from %d ms", evs[0].GreetingDurationMs, evs[0].WordCount, 3*engine.WordRuleMsPerWord)
				}
			},
		},
		{
			name: "beep without a greeting",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(1200).Tone(850, 600, -20).Silence(1500).Render(enginetest.NoiseWhite, -55)
			},
			want: "machine_detected(beep) tone_detected(beep) stopped(completed)",
		},
		{
			name: "fax answer tone",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(800).Tone(2100, 3000, -15).Render(enginetest.NoiseNone, 0)
			},
			want: "machine_detected(fax) tone_detected(fax) stopped(completed)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if e, _ := find(evs, engine.EventToneDetected); e.ToneKind != engine.ToneFaxCED {
					t.Errorf("tone kind %q", e.ToneKind)
				}
			},
		},
		{
			name:  "line noise is no speech",
			build: func(c *enginetest.Call) []int16 { return c.Silence(8000).Render(enginetest.NoiseWhite, -40) },
			want:  "no_speech_detected(silence) stopped(completed)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if evs[0].AtMs != engine.DefaultNoSpeechTimeoutMs || evs[0].InitialSilenceMs != engine.DefaultNoSpeechTimeoutMs {
					t.Errorf("no speech at %d ms, initial silence %d", evs[0].AtMs, evs[0].InitialSilenceMs)
				}
			},
		},
		{
			name:  "hum is no speech",
			build: func(c *enginetest.Call) []int16 { return c.Silence(7000).Render(enginetest.NoiseHum, -25) },
			want:  "no_speech_detected(silence) stopped(completed)",
		},
		{
			name:  "brown noise is no speech",
			build: func(c *enginetest.Call) []int16 { return c.Silence(7000).Render(enginetest.NoiseBrown, -20) },
			want:  "no_speech_detected(silence) stopped(completed)",
		},
		{
			name:  "no speech timeout override",
			cfg:   engine.Config{Timers: engine.Timers{NoSpeechTimeoutMs: 2500}},
			build: func(c *enginetest.Call) []int16 { return c.Silence(4000).Render(enginetest.NoisePink, -45) },
			want:  "no_speech_detected(silence) stopped(completed)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if evs[0].AtMs != 2500 {
					t.Errorf("no speech at %d ms, want 2500", evs[0].AtMs)
				}
			},
		},
		{
			name: "late hello as the no-speech timer runs out",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(4900).Say(1, -20).Silence(3000).Render(enginetest.NoiseWhite, -55)
			},
			want:  "human_detected(short_greeting) stopped(stopped)",
			check: afterFirst(OpenerLo, OpenerHi),
		},
		{
			name:  "decision timeout",
			cfg:   engine.Config{Timers: engine.Timers{NoSpeechTimeoutMs: 9000, DecisionTimeoutMs: 3000}},
			build: func(c *enginetest.Call) []int16 { return c.Silence(5000).Render(enginetest.NoiseWhite, -50) },
			want:  "decision_timeout(timeout) stopped(completed)",
			check: func(t *testing.T, c *enginetest.Call, evs []engine.Event) {
				if evs[0].AtMs != 3000 {
					t.Errorf("timeout at %d ms, want 3000", evs[0].AtMs)
				}
			},
		},
		{
			name: "audio ends during a short greeting",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(500).Say(2, -20).Silence(300).Render(enginetest.NoiseWhite, -55)
			},
			want: "human_detected(audio_ended) stopped(stopped)",
		},
		{
			name:  "audio ends in silence",
			build: func(c *enginetest.Call) []int16 { return c.Silence(2000).Render(enginetest.NoiseWhite, -55) },
			want:  "no_speech_detected(audio_ended) stopped(stopped)",
		},
	}
}

// Human decision latency after the first utterance ends: the silence rule
// (800 ms) plus the VAD's hangover and a frame of rounding.
const (
	HumanLo = engine.HumanSilenceMs
	HumanHi = engine.HumanSilenceMs + 200
	// A lone opener ("Hello?") waits longer: it may be a recording that
	// opens like a person.
	OpenerLo = engine.OpenerSilenceMs
	OpenerHi = engine.OpenerSilenceMs + 200
)

func TestDetectorScenarios(t *testing.T) {
	t.Parallel()
	for i, sc := range append(scenarios(), lateBeepScenarios()...) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, f0 := range []float64{110, 200} {
				c := enginetest.New(uint64(i*31)+uint64(f0), f0)
				pcm := sc.build(c)
				evs := run(t, sc.cfg, pcm)
				if got := seq(evs); got != sc.want {
					t.Errorf("f0 %.0f: events\n got  %s\n want %s", f0, got, sc.want)
					for _, e := range evs {
						t.Logf("  %+v", e)
					}
					continue
				}
				checkInvariants(t, evs, true)
				if sc.check != nil {
					sc.check(t, c, evs)
				}
			}
		})
	}
}

// TestDetectorChannels: the verdicts survive G.711 and Opus with loss.
func TestDetectorChannels(t *testing.T) {
	t.Parallel()
	type build func(c *enginetest.Call) []int16
	calls := map[engine.EventType]build{
		engine.EventHumanDetected: func(c *enginetest.Call) []int16 {
			return c.Silence(800).Say(2, -24).Silence(2500).Render(enginetest.NoisePink, -50)
		},
		engine.EventMachineDetected: func(c *enginetest.Call) []int16 {
			return c.Silence(500).Greeting(-22, 5, 6, 4).Silence(2500).Render(enginetest.NoiseWhite, -52)
		},
		engine.EventNoSpeechDetected: func(c *enginetest.Call) []int16 {
			return c.Silence(6000).Render(enginetest.NoiseBrown, -30)
		},
	}
	for want, b := range calls {
		for _, ch := range []string{"ulaw", "opus-loss"} {
			t.Run(string(want)+"/"+ch, func(t *testing.T) {
				t.Parallel()
				for seed := uint64(1); seed <= 3; seed++ {
					pcm := b(enginetest.New(seed, 100+40*float64(seed)))
					if ch == "ulaw" {
						pcm = enginetest.Mulaw(pcm)
					} else {
						var err error
						if pcm, err = enginetest.OpusLoss(pcm, 12000, 0.08, seed); err != nil {
							t.Fatal(err)
						}
					}
					evs := run(t, engine.Config{}, pcm)
					checkInvariants(t, evs, true)
					if evs[0].Type != want {
						t.Errorf("seed %d: %s, want %s first", seed, seq(evs), want)
					}
				}
			})
		}
	}
}

// TestDetectorDeterministic: the same audio gives the same events.
func TestDetectorDeterministic(t *testing.T) {
	t.Parallel()
	pcm := enginetest.New(7, 150).Silence(500).Greeting(-20, 4, 6).Silence(300).Tone(1000, 400, -20).Silence(1000).Render(enginetest.NoisePink, -50)
	a := run(t, engine.Config{}, pcm)
	b := run(t, engine.Config{}, pcm)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs differ:\n%s\n%s", seq(a), seq(b))
	}
}

// TestDetectorConfidenceFromMargins: confidence follows the evidence — a
// crisp "Hello?" is surer than a greeting near the human limit.
func TestDetectorConfidenceFromMargins(t *testing.T) {
	t.Parallel()
	short := run(t, engine.Config{}, enginetest.New(1, 150).Silence(500).Say(1, -15).Silence(3000).Render(enginetest.NoiseWhite, -60))
	long := run(t, engine.Config{}, enginetest.New(1, 150).Silence(500).Say(5, -30).Silence(3000).Render(enginetest.NoiseWhite, -45))
	if short[0].Type != engine.EventHumanDetected || long[0].Type != engine.EventHumanDetected {
		t.Fatalf("want two humans: %s | %s", seq(short), seq(long))
	}
	if short[0].Confidence <= long[0].Confidence {
		t.Errorf("confidence of a short clear hello %.3f ≤ a long quiet greeting's %.3f", short[0].Confidence, long[0].Confidence)
	}
	for _, e := range append(short, long...) {
		if e.Type.Decision() && (e.Confidence <= 0.5 || e.Confidence >= 1) {
			t.Errorf("%s confidence %.3f, want in (0.5, 1)", e.Type, e.Confidence)
		}
	}
}

// fakeTone reports a confirmed tone on one frame (tests the timing rules
// exactly, independent of the real tone detector).
type fakeTone struct {
	frame, at int
	kind      dsp.ToneKind
}

func (f *fakeTone) Process([]int16) dsp.ToneResult {
	f.frame++
	if f.frame == f.at {
		return dsp.ToneResult{Tonal: true, Detected: f.kind, FreqHz: 1400, OnsetMs: int64(f.at-5) * dsp.FrameMs, DurationMs: 100}
	}
	return dsp.ToneResult{}
}

// TestDetectorToneTimeoutBoundary: a beep counts while toneTimeoutMs since
// the machine verdict has not passed, and not after.
func TestDetectorToneTimeoutBoundary(t *testing.T) {
	t.Parallel()
	c := enginetest.New(3, 120)
	pcm := c.Silence(300).Greeting(-20, 6, 6).Silence(9000).Render(enginetest.NoiseWhite, -55)
	end := c.Spans()[len(c.Spans())-1][1] / dsp.FrameMs * dsp.FrameMs
	// find the verdict time with no tone at all
	evs := run(t, engine.Config{}, pcm, engine.WithToneSource(&fakeTone{}))
	m, ok := find(evs, engine.EventMachineDetected)
	if !ok {
		t.Fatalf("no machine verdict: %s", seq(evs))
	}
	// the tone timeout runs out 3 s after the greeting ends
	timeout := end + 3000 - m.AtMs
	cfg := engine.Config{Timers: engine.Timers{ToneTimeoutMs: int(timeout)}}
	cases := []struct {
		atMs int64
		want string
	}{
		{end + 500, "machine_detected(long_greeting) machine_stopped_speaking(beep) tone_detected(beep) stopped(completed)"},
		{m.AtMs + timeout - 20, "machine_detected(long_greeting) machine_stopped_speaking(greeting_ended) tone_detected(beep) stopped(completed)"},
		{m.AtMs + timeout + 20, "machine_detected(long_greeting) machine_stopped_speaking(greeting_ended) stopped(timeout)"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("beep+%d", tc.atMs-m.AtMs), func(t *testing.T) {
			evs := run(t, cfg, pcm, engine.WithToneSource(&fakeTone{at: int(tc.atMs / dsp.FrameMs), kind: dsp.ToneBeep}))
			if got := seq(evs); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			checkInvariants(t, evs, true)
		})
	}
	t.Run("fax after the verdict", func(t *testing.T) {
		evs := run(t, cfg, pcm, engine.WithToneSource(&fakeTone{at: int((end + 1000) / dsp.FrameMs), kind: dsp.ToneFaxCED}))
		if got, want := seq(evs), "machine_detected(long_greeting) machine_stopped_speaking(fax) tone_detected(fax) stopped(completed)"; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if e, _ := find(evs, engine.EventToneDetected); e.ToneKind != engine.ToneFaxCED || e.ToneFrequencyHz != 1400 {
			t.Errorf("tone evidence %+v", e)
		}
	})
	t.Run("sit before speech", func(t *testing.T) {
		evs := run(t, engine.Config{}, pcm, engine.WithToneSource(&fakeTone{at: 10, kind: dsp.ToneSIT}))
		if got, want := seq(evs), "machine_detected(sit) tone_detected(sit) stopped(completed)"; got != want {
			t.Errorf("got %s want %s", got, want)
		}
		if evs[0].ToneKind != engine.ToneSIT || evs[0].ToneOnsetMs != 100 || evs[0].AtMs != 200 {
			t.Errorf("sit evidence %+v", evs[0])
		}
	})
}

func TestDetectorStopFinishFail(t *testing.T) {
	t.Parallel()
	pcm := enginetest.New(4, 160).Silence(500).Say(2, -20).Silence(2500).Render(enginetest.NoiseWhite, -55)
	feed := func(d *engine.Detector, ms int) {
		for off := 0; off < ms*8 && off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
			if evs := d.Process(pcm[off : off+dsp.FrameSamples]); len(evs) > 0 {
				t.Fatalf("unexpected events while feeding: %s", seq(evs))
			}
		}
	}
	t.Run("stop", func(t *testing.T) {
		d, _ := engine.NewDetector(engine.Config{})
		feed(d, 600)
		evs := d.Stop()
		if seq(evs) != "stopped(stopped)" || evs[0].AtMs != 600 || !d.Done() {
			t.Fatalf("Stop: %s at %d, done %v", seq(evs), evs[0].AtMs, d.Done())
		}
		if n := len(d.Process(pcm[:160])) + len(d.Finish()) + len(d.Stop()) + len(d.Fail(engine.ReasonMediaError, "x")); n != 0 {
			t.Errorf("%d events after amd_stopped", n)
		}
		if d.NowMs() != 600 {
			t.Errorf("audio time advanced after stop: %d", d.NowMs())
		}
	})
	t.Run("fail", func(t *testing.T) {
		d, _ := engine.NewDetector(engine.Config{})
		feed(d, 400)
		evs := d.Fail(engine.ReasonMediaTimeout, "no RTP for 5 s")
		if seq(evs) != "error(media_timeout) stopped(media_timeout)" || evs[0].Message != "no RTP for 5 s" {
			t.Fatalf("Fail: %s %+v", seq(evs), evs)
		}
		checkInvariants(t, evs, false)
	})
	t.Run("finish after decision", func(t *testing.T) {
		d, _ := engine.NewDetector(engine.Config{ThresholdWordCount: 40, Timers: engine.Timers{ToneTimeoutMs: 60000}})
		loud := enginetest.New(5, 130).Silence(300).Greeting(-20, 6, 6).Silence(500).Render(enginetest.NoiseNone, 0)
		var all []engine.Event
		for off := 0; off+dsp.FrameSamples <= len(loud); off += dsp.FrameSamples {
			all = append(all, d.Process(loud[off:off+dsp.FrameSamples])...)
		}
		all = append(all, d.Finish()...)
		if got := seq(all); got != "machine_detected(long_greeting) stopped(stopped)" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		d, err := engine.NewDetector(engine.Config{Mode: engine.ModeDisabled})
		if err != nil {
			t.Fatal(err)
		}
		feed(d, 3000)
		if evs := d.Finish(); seq(evs) != "stopped(stopped)" {
			t.Fatalf("disabled Finish: %s", seq(evs))
		}
	})
}

func TestNewDetectorConfig(t *testing.T) {
	t.Parallel()
	d, err := engine.NewDetector(engine.Config{Timers: engine.Timers{ToneTimeoutMs: 7000}})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Config()
	if c.Mode != engine.ModeDetect || c.ThresholdWordCount != engine.DefaultThresholdWordCount ||
		c.Timers.NoSpeechTimeoutMs != engine.DefaultNoSpeechTimeoutMs || c.Timers.DecisionTimeoutMs != engine.DefaultDecisionTimeoutMs ||
		c.Timers.GreetingCompletionTimeoutMs != engine.DefaultGreetingCompletionTimeoutMs || c.Timers.ToneTimeoutMs != 7000 {
		t.Errorf("effective config %+v", c)
	}
	bad := []engine.Config{
		{Mode: "guess"},
		{ThresholdWordCount: -1},
		{Timers: engine.Timers{DecisionTimeoutMs: -5}},
		{Timers: engine.Timers{NoSpeechTimeoutMs: 1 << 30}},
	}
	for _, b := range bad {
		if _, err := engine.NewDetector(b); !errors.Is(err, engine.ErrInvalidConfig) {
			t.Errorf("%+v: err %v, want ErrInvalidConfig", b, err)
		}
	}
}

func TestDetectorZeroAllocs(t *testing.T) {
	pcm := enginetest.New(8, 150).Silence(300).Greeting(-20, 5, 5).Silence(300).Tone(1000, 300, -20).Render(enginetest.NoisePink, -50)
	d, _ := engine.NewDetector(engine.Config{Timers: engine.Timers{ToneTimeoutMs: 600000, DecisionTimeoutMs: 600000}})
	frames := len(pcm) / dsp.FrameSamples
	i := 0
	allocs := testing.AllocsPerRun(frames-1, func() {
		d.Process(pcm[i*dsp.FrameSamples : (i+1)*dsp.FrameSamples])
		i++
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %.2f times per frame", allocs)
	}
}

// BenchmarkDetectorProcess: the whole per-frame path (VAD, segmentation,
// tone detection, rules) over a mixed call that loops; x_realtime is audio
// time processed per wall time on one core.
func BenchmarkDetectorProcess(b *testing.B) {
	pcm := enginetest.New(9, 140).Silence(800).Say(2, -22).Silence(900).Greeting(-20, 5, 6).Silence(400).
		Tone(1000, 400, -20).Silence(1500).Render(enginetest.NoisePink, -50)
	frames := len(pcm) / dsp.FrameSamples
	cfg := engine.Config{Timers: engine.Timers{ToneTimeoutMs: 600000, DecisionTimeoutMs: 600000, NoSpeechTimeoutMs: 600000}}
	d, _ := engine.NewDetector(cfg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == frames || d.Done() {
			i = 0
			d.Reset()
		}
		d.Process(pcm[i*dsp.FrameSamples : (i+1)*dsp.FrameSamples])
		i++
	}
	b.ReportMetric(float64(dsp.FrameMs)*1e6/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x_realtime")
}

// BenchmarkDetectorProcessNoTone is the detector's own share of the frame
// path (VAD, segmentation, rules) with the tone detector replaced by a
// no-op, to tell the stages' costs apart.
func BenchmarkDetectorProcessNoTone(b *testing.B) {
	pcm := enginetest.New(9, 140).Silence(800).Say(2, -22).Silence(900).Greeting(-20, 5, 6).Silence(400).
		Tone(1000, 400, -20).Silence(1500).Render(enginetest.NoisePink, -50)
	frames := len(pcm) / dsp.FrameSamples
	cfg := engine.Config{Timers: engine.Timers{ToneTimeoutMs: 600000, DecisionTimeoutMs: 600000, NoSpeechTimeoutMs: 600000}}
	d, _ := engine.NewDetector(cfg, engine.WithToneSource(&fakeTone{}))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == frames || d.Done() {
			i = 0
			d.Reset()
		}
		d.Process(pcm[i*dsp.FrameSamples : (i+1)*dsp.FrameSamples])
		i++
	}
	b.ReportMetric(float64(dsp.FrameMs)*1e6/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x_realtime")
}

// FuzzDetector feeds arbitrary audio (and an arbitrary ending: Finish, Stop
// or Fail) and checks the event contract holds whatever comes in.
func FuzzDetector(f *testing.F) {
	seed := enginetest.New(1, 150).Silence(300).Say(2, -20).Silence(1000).Render(enginetest.NoiseWhite, -50)
	buf := make([]byte, 2*len(seed))
	for i, s := range seed {
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(s))
	}
	f.Add(buf, uint8(0), uint16(0))
	f.Add([]byte{0, 0x80, 0xff, 0x7f}, uint8(1), uint16(2000))
	f.Fuzz(func(t *testing.T, data []byte, ending uint8, noSpeechMs uint16) {
		cfg := engine.Config{Timers: engine.Timers{NoSpeechTimeoutMs: int(noSpeechMs % 6000)}}
		d, err := engine.NewDetector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var evs []engine.Event
		frame := make([]int16, dsp.FrameSamples)
		for off := 0; off+1 < len(data) && !d.Done(); off += 2 * dsp.FrameSamples {
			clear(frame)
			for i := 0; i < dsp.FrameSamples && off+2*i+1 < len(data); i++ {
				frame[i] = int16(binary.LittleEndian.Uint16(data[off+2*i:]))
			}
			evs = append(evs, d.Process(frame)...)
		}
		if !d.Done() {
			switch ending % 3 {
			case 0:
				evs = append(evs, d.Finish()...)
			case 1:
				evs = append(evs, d.Stop()...)
			default:
				evs = append(evs, d.Fail(engine.ReasonMediaError, "fuzz")...)
			}
		}
		if !d.Done() {
			t.Fatal("not done after ending")
		}
		decisions, stops := 0, 0
		for i, e := range evs {
			if e.Type.Decision() {
				decisions++
			}
			if e.Type == engine.EventStopped {
				stops++
				if i != len(evs)-1 {
					t.Fatalf("amd_stopped not last: %s", seq(evs))
				}
			}
			if !(e.Confidence >= 0 && e.Confidence <= 1) {
				t.Fatalf("confidence %v", e.Confidence)
			}
			if e.AtMs > d.NowMs() || e.AtMs < 0 {
				t.Fatalf("event at %d ms after %d ms of audio", e.AtMs, d.NowMs())
			}
		}
		if stops != 1 || decisions > 1 {
			t.Fatalf("%d stops, %d decisions: %s", stops, decisions, seq(evs))
		}
	})
}

// lossyTone records what WithLossyCodec told it.
type lossyTone struct {
	fakeTone
	lossy, set bool
}

func (l *lossyTone) SetLossyCodec(v bool) { l.lossy, l.set = v, true }

func TestWithLossyCodec(t *testing.T) {
	t.Parallel()
	for _, want := range []bool{true, false} {
		ts := &lossyTone{}
		if _, err := engine.NewDetector(engine.Config{}, engine.WithToneSource(ts), engine.WithLossyCodec(want)); err != nil {
			t.Fatal(err)
		}
		if !ts.set || ts.lossy != want {
			t.Errorf("WithLossyCodec(%v): tone source set=%v lossy=%v", want, ts.set, ts.lossy)
		}
	}
	ts := &lossyTone{}
	if _, err := engine.NewDetector(engine.Config{}, engine.WithToneSource(ts)); err != nil {
		t.Fatal(err)
	}
	if ts.set {
		t.Errorf("without the option the tone source was told %v", ts.lossy)
	}
}

// scriptedTone marks frames [from, end] tonal, confirms a beep on at and
// reports its end on end (end 0: at+10).
type scriptedTone struct{ frame, from, at, end int }

func (s *scriptedTone) Process([]int16) dsp.ToneResult {
	s.frame++
	end := s.end
	if end == 0 {
		end = s.at + 10
	}
	r := dsp.ToneResult{Tonal: s.frame >= s.from && s.frame <= end}
	if s.frame == s.at {
		r.Detected, r.FreqHz, r.OnsetMs, r.DurationMs = dsp.ToneBeep, 1000, int64(s.from-1)*dsp.FrameMs, int64(s.at-s.from+1)*dsp.FrameMs
	}
	if s.frame == end+1 {
		r.Ended, r.FreqHz, r.OnsetMs, r.DurationMs = dsp.ToneBeep, 1000, int64(s.from-1)*dsp.FrameMs, int64(end-s.from+1)*dsp.FrameMs
	}
	return r
}

// TestDetectorBeepInsideSpeech: a "beep" that starts while the callee is
// talking is held; speech carrying on after it drops it (a held vowel),
// quiet after it confirms it (a greeting cut short by its beep).
func TestDetectorBeepInsideSpeech(t *testing.T) {
	t.Parallel()
	// "Hello, this is …" — one phrase, then a pause, then more words.
	c := enginetest.New(14, 170)
	pcm := c.Silence(500).Say(2, -20).Silence(300).Say(2, -20).Silence(3000).Render(enginetest.NoiseWhite, -60)
	first := c.Spans()[0]
	mid := int((first[0]+first[1])/2/dsp.FrameMs) + 1 // a frame inside the first phrase
	t.Run("held vowel, talker goes on", func(t *testing.T) {
		evs := run(t, engine.Config{}, pcm, engine.WithToneSource(&scriptedTone{from: mid, at: mid + 4, end: mid + 6}))
		if evs[0].Type != engine.EventHumanDetected {
			t.Errorf("got %s, want human", seq(evs))
		}
		checkInvariants(t, evs, true)
	})
	t.Run("beep cuts the greeting, quiet follows", func(t *testing.T) {
		short := enginetest.New(15, 170)
		p := short.Silence(500).Say(2, -20).Silence(3000).Render(enginetest.NoiseWhite, -60)
		endF := int(short.Spans()[0][1]/dsp.FrameMs) - 1 // the beep starts on the greeting's last frame
		evs := run(t, engine.Config{}, p, engine.WithToneSource(&scriptedTone{from: endF, at: endF + 4, end: endF + 20}))
		if got, want := seq(evs), "machine_detected(beep) tone_detected(beep) stopped(completed)"; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if d := evs[0].AtMs - int64(endF+21)*dsp.FrameMs; d < engine.BeepConfirmMs-40 || d > engine.BeepConfirmMs+40 {
			t.Errorf("confirmed %d ms after the beep ended, want ~%d", d, engine.BeepConfirmMs)
		}
		if evs[0].ToneOnsetMs != int64(endF-1)*dsp.FrameMs || evs[0].ToneDurationMs != 21*dsp.FrameMs {
			t.Errorf("tone evidence onset %d duration %d", evs[0].ToneOnsetMs, evs[0].ToneDurationMs)
		}
	})
}

// TestDetectorWaitsForSoundingTone: a beep that starts just before the
// human silence runs out, and is confirmed just after, makes a machine —
// the human rule waits while a tone is sounding.
func TestDetectorWaitsForSoundingTone(t *testing.T) {
	t.Parallel()
	c := enginetest.New(12, 150)
	pcm := c.Silence(600).Say(3, -20).Silence(3000).Render(enginetest.NoiseWhite, -60)
	// where would the human verdict fall without a tone?
	base := run(t, engine.Config{}, pcm, engine.WithToneSource(&fakeTone{}))
	if base[0].Type != engine.EventHumanDetected {
		t.Fatalf("baseline %s", seq(base))
	}
	humanFrame := int(base[0].AtMs / dsp.FrameMs)
	for _, tc := range []struct {
		name     string
		from, at int
		want     engine.EventType
	}{
		{"tone sounding at the deadline", humanFrame - 2, humanFrame + 4, engine.EventMachineDetected},
		{"tone starting after the verdict", humanFrame + 1, humanFrame + 6, engine.EventHumanDetected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := run(t, engine.Config{}, pcm, engine.WithToneSource(&scriptedTone{from: tc.from, at: tc.at}))
			if evs[0].Type != tc.want {
				t.Errorf("got %s, want %s first", seq(evs), tc.want)
			}
			checkInvariants(t, evs, true)
		})
	}
}

// TestDetectorLastFrame: the trace shows the stages' view of each frame, the
// same as running the stages by hand.
func TestDetectorLastFrame(t *testing.T) {
	t.Parallel()
	pcm := enginetest.New(13, 140).Silence(400).Say(2, -20).Silence(600).Render(enginetest.NoisePink, -55)
	d, _ := engine.NewDetector(engine.Config{})
	v := dsp.NewVAD()
	for off := 0; off+dsp.FrameSamples <= len(pcm) && !d.Done(); off += dsp.FrameSamples {
		f := pcm[off : off+dsp.FrameSamples]
		d.Process(f)
		if got, want := d.LastFrame().VAD, v.Process(f); got != want {
			t.Fatalf("frame %d: trace VAD %+v, VAD %+v", off/dsp.FrameSamples, got, want)
		}
	}
	if tr := d.LastFrame(); tr.Segment.Words == 0 || tr.Segment.FirstSpeechMs < 300 {
		t.Errorf("trace segment %+v", tr.Segment)
	}
}

// lateBeepScenarios: a recording that opens like a person ("Yeah, hello?
// … I'm not here, leave a message" + beep), or whose short greeting ends
// just before the human rule's silence runs out, is called human before its
// beep; the beep is still reported, after the verdict, while toneTimeoutMs
// since the verdict has not passed — and only when it follows the last word
// as a recording's beep does.
func lateBeepScenarios() []scenario {
	return []scenario{
		{
			name: "recording that opens like a person with a phrase",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(5, -20).Silence(2000).Greeting(-20, 4, 3).Silence(400).Tone(1000, 400, -16).Silence(1500).Render(enginetest.NoisePink, -55)
			},
			want:  "human_detected(short_greeting) tone_detected(beep) stopped(completed)",
			check: lateBeepEvidence,
		},
		{
			name: "short greeting whose beep comes just after the human rule fired",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(5, -20).Silence(1300).Tone(1000, 400, -16).Silence(1500).Render(enginetest.NoisePink, -55)
			},
			want:  "human_detected(short_greeting) tone_detected(beep) stopped(completed)",
			check: lateBeepEvidence,
		},
		{
			name: "beep long after a person's hello",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(5, -20).Silence(2500).Tone(1000, 400, -16).Silence(1500).Render(enginetest.NoisePink, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
		},
		{
			name: "beep after the tone timeout",
			cfg:  engine.Config{Timers: engine.Timers{ToneTimeoutMs: 3000}},
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(5, -20).Silence(2000).Greeting(-20, 4, 3, 4).Silence(400).Tone(1000, 400, -16).Silence(1500).Render(enginetest.NoisePink, -55)
			},
			want: "human_detected(short_greeting) stopped(timeout)",
		},
		{
			name: "person keeps talking, no beep",
			build: func(c *enginetest.Call) []int16 {
				return c.Silence(600).Say(5, -20).Silence(2000).Say(3, -20).Silence(900).Say(4, -20).Silence(2000).Render(enginetest.NoisePink, -55)
			},
			want: "human_detected(short_greeting) stopped(stopped)",
		},
	}
}

// lateBeepEvidence: the late beep comes after the human verdict and says
// what it was.
func lateBeepEvidence(t *testing.T, _ *enginetest.Call, evs []engine.Event) {
	e, _ := find(evs, engine.EventToneDetected)
	h, _ := find(evs, engine.EventHumanDetected)
	if e.ToneKind != engine.ToneBeep || e.AtMs <= h.AtMs || e.ToneFrequencyHz < 980 || e.ToneFrequencyHz > 1020 {
		t.Errorf("late beep evidence %+v after verdict at %d", e, h.AtMs)
	}
}
