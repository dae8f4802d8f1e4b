package analysis

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// Verdicts a clip can get, as the confusion matrix's columns.
const (
	VerdictHuman    = "human"
	VerdictMachine  = "machine"
	VerdictNoSpeech = "no_speech"
	VerdictTimeout  = "timeout"
	VerdictNone     = "none"
	VerdictError    = "error"
)

var verdictOf = map[engine.EventType]string{
	engine.EventHumanDetected:    VerdictHuman,
	engine.EventMachineDetected:  VerdictMachine,
	engine.EventNoSpeechDetected: VerdictNoSpeech,
	engine.EventDecisionTimeout:  VerdictTimeout,
}

// toneOf maps what a clip's manifest says amd_tone_detected must report to the
// engine's tone kinds that satisfy it.
var toneOf = map[string][]engine.ToneKind{
	fixtures.ToneBeep: {engine.ToneBeep},
	fixtures.ToneFax:  {engine.ToneFaxCED, engine.ToneFaxCNG, engine.ToneV21},
	fixtures.ToneSIT:  {engine.ToneSIT},
}

// ClipScore is one clip's outcome against its labels.
type ClipScore struct {
	Clip    fixtures.Clip
	Verdict string
	Correct bool
	// DecisionMs is when the decision came (audio time), -1 without one.
	DecisionMs int64
	// HumanLatencyMs: human verdict time minus the end of the first utterance.
	HumanLatencyMs int64
	// Tone outcome: the first amd_tone_detected, if any.
	ToneFired   bool
	ToneKind    engine.ToneKind
	ToneOK      bool  // the tone matches the manifest (or none was due and none fired)
	ToneLatency int64 // amd_tone_detected time minus the manifest's onset
	Err         error
}

// Report is a corpus run's scores.
type Report struct {
	Clips []ClipScore
}

// Score runs the detector with cfg over every clip (dir is the manifest's
// folder) and scores it.
func Score(dir string, clips []fixtures.Clip, cfg engine.Config) Report {
	var r Report
	for _, c := range clips {
		s := ClipScore{Clip: c, DecisionMs: -1, HumanLatencyMs: -1, ToneLatency: -1}
		// A live call knows its codec; a clip that went through Opus and was
		// saved as WAV tells it through its manifest, as the daemon would.
		var opts []engine.Option
		if c.Channel == fixtures.ChannelOpus || c.Channel == fixtures.ChannelOpusLoss {
			opts = append(opts, engine.WithLossyCodec(true))
		}
		res, err := File(filepath.Join(dir, filepath.FromSlash(c.File)), cfg, false, opts...)
		if err != nil {
			s.Err, s.Verdict = err, VerdictError
			r.Clips = append(r.Clips, s)
			continue
		}
		s.Verdict = VerdictNone
		if d, ok := res.Decision(); ok {
			s.Verdict, s.DecisionMs = verdictOf[d.Type], d.AtMs
			if d.Type == engine.EventHumanDetected && len(c.Speech) > 0 {
				s.HumanLatencyMs = d.AtMs - int64(c.Speech[0][1])
			}
		}
		s.Correct = s.Verdict == c.Label
		if t, ok := res.First(engine.EventToneDetected); ok {
			s.ToneFired, s.ToneKind = true, t.ToneKind
			if c.Beep != nil {
				s.ToneLatency = t.AtMs - int64(c.Beep.OnsetMs)
			} else if len(c.Tones) > 0 {
				s.ToneLatency = t.AtMs - int64(c.Tones[0].OnsetMs)
			}
		}
		switch want := toneOf[c.Tone]; {
		case c.Tone == fixtures.ToneNone:
			s.ToneOK = !s.ToneFired
		default:
			for _, k := range want {
				s.ToneOK = s.ToneOK || (s.ToneFired && s.ToneKind == k)
			}
		}
		r.Clips = append(r.Clips, s)
	}
	return r
}

// Rate is a count of successes out of a total.
type Rate struct{ OK, N int }

// Fraction is OK/N, or 1 for an empty set (nothing to get wrong).
func (r Rate) Fraction() float64 {
	if r.N == 0 {
		return 1
	}
	return float64(r.OK) / float64(r.N)
}

func (r Rate) String() string { return fmt.Sprintf("%5.1f%% (%d/%d)", 100*r.Fraction(), r.OK, r.N) }

// Overall is the share of clips whose verdict matches the label.
func (r Report) Overall() Rate { return r.rate(func(ClipScore) bool { return true }, isCorrect) }

// Label is the share of clips with label l called l.
func (r Report) Label(l string) Rate {
	return r.rate(func(s ClipScore) bool { return s.Clip.Label == l }, isCorrect)
}

// ToneRecall is the share of clips with tone t whose amd_tone_detected reported it.
func (r Report) ToneRecall(t string) Rate {
	return r.rate(func(s ClipScore) bool { return s.Clip.Tone == t }, func(s ClipScore) bool { return s.ToneOK })
}

// ToneRecallListening is ToneRecall over the clips called machine: the
// tone detector's own recall where the verdict was right, apart from late
// beeps after a human verdict.
func (r Report) ToneRecallListening(t string) Rate {
	return r.rate(func(s ClipScore) bool { return s.Clip.Tone == t && s.Verdict == VerdictMachine },
		func(s ClipScore) bool { return s.ToneOK })
}

// FalseTones counts amd_tone_detected on clips that hold no tone.
func (r Report) FalseTones() Rate {
	return r.rate(func(s ClipScore) bool { return s.Clip.Tone == fixtures.ToneNone }, func(s ClipScore) bool { return s.ToneFired })
}

// BeepLatencyP50 is the median time from beep onset to amd_tone_detected over detected beeps.
func (r Report) BeepLatencyP50() int64 {
	var v []int64
	for _, s := range r.Clips {
		if s.Clip.Tone == fixtures.ToneBeep && s.ToneOK {
			v = append(v, s.ToneLatency)
		}
	}
	return Percentile(v, 50)
}

// HumanLatencyP50 is the median time from the end of the first utterance to
// the human verdict, over humans called human.
func (r Report) HumanLatencyP50() int64 {
	var v []int64
	for _, s := range r.Clips {
		if s.Clip.Label == fixtures.LabelHuman && s.Correct {
			v = append(v, s.HumanLatencyMs)
		}
	}
	return Percentile(v, 50)
}

func isCorrect(s ClipScore) bool { return s.Correct }

func (r Report) rate(in, ok func(ClipScore) bool) Rate {
	var out Rate
	for _, s := range r.Clips {
		if in(s) {
			out.N++
			if ok(s) {
				out.OK++
			}
		}
	}
	return out
}

// Percentile returns the p-th percentile (nearest rank) of v, or -1 when v is empty.
func Percentile(v []int64, p float64) int64 {
	if len(v) == 0 {
		return -1
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p/100*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// Write prints the confusion matrix, per-category accuracy, tone figures,
// latencies and every miss.
func (r Report) Write(w io.Writer) {
	cols := []string{VerdictHuman, VerdictMachine, VerdictNoSpeech, VerdictTimeout, VerdictNone, VerdictError}
	labels := []string{fixtures.LabelHuman, fixtures.LabelMachine, fixtures.LabelNoSpeech}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "label \\ verdict\t%s\t\n", strings.Join(cols, "\t"))
	for _, l := range labels {
		fmt.Fprintf(tw, "%s", l)
		for _, c := range cols {
			n := 0
			for _, s := range r.Clips {
				if s.Clip.Label == l && s.Verdict == c {
					n++
				}
			}
			fmt.Fprintf(tw, "\t%d", n)
		}
		fmt.Fprintln(tw, "\t")
	}
	_ = tw.Flush()

	cats := map[string]*Rate{}
	var names []string
	for _, s := range r.Clips {
		c := cats[s.Clip.Category]
		if c == nil {
			c = &Rate{}
			cats[s.Clip.Category] = c
			names = append(names, s.Clip.Category)
		}
		c.N++
		if s.Correct {
			c.OK++
		}
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nper category:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, cats[n])
	}
	fmt.Fprintf(w, "\noverall %s  human %s  machine %s  no_speech %s\n",
		r.Overall(), r.Label(fixtures.LabelHuman), r.Label(fixtures.LabelMachine), r.Label(fixtures.LabelNoSpeech))
	fmt.Fprintf(w, "beep recall %s  fax %s  sit %s  false tones %s\n",
		r.ToneRecall(fixtures.ToneBeep), r.ToneRecall(fixtures.ToneFax), r.ToneRecall(fixtures.ToneSIT), r.FalseTones())
	fmt.Fprintf(w, "beep recall while listening (machine verdicts) %s\n", r.ToneRecallListening(fixtures.ToneBeep))
	fmt.Fprintf(w, "beep latency p50 %d ms  human verdict p50 %d ms after the first utterance\n", r.BeepLatencyP50(), r.HumanLatencyP50())
	fmt.Fprintln(w, "\nmisses:")
	for _, s := range r.Clips {
		if s.Correct && s.ToneOK {
			continue
		}
		detail := ""
		if s.Err != nil {
			detail = s.Err.Error()
		}
		fmt.Fprintf(w, "  %-32s %-10s label=%-9s verdict=%-9s at=%dms tone(want=%s got=%s) %s\n",
			s.Clip.File, s.Clip.Category, s.Clip.Label, s.Verdict, s.DecisionMs, s.Clip.Tone, toneName(s), detail)
	}
}

func toneName(s ClipScore) string {
	if !s.ToneFired {
		return "none"
	}
	return string(s.ToneKind)
}
