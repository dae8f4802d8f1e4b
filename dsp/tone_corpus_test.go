package dsp_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/fixtures"
)

// TestToneCorpus runs the tone detector over the labelled corpus in
// fixtures/ (TTS greetings with beeps, SIT intercepts, fax, people, noise,
// through G.711 and Opus with loss). No tone-free clip may yield anything;
// tone clips should yield their kind first (beeps with the onset within
// 30 ms). The corpus includes cases beyond the detector's reach (SIT at
// ~6 dB SNR, square-ish beeps mangled by 8–13 kbit/s Opus, a beep at 0 dB
// SNR), so the bar there is a rate and every miss is listed.
func TestToneCorpus(t *testing.T) {
	t.Parallel()
	clips, err := fixtures.Corpus()
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no corpus")
	}
	if err != nil {
		t.Fatal(err)
	}
	var lat, onErr []float64
	var false_, missed, wrong []string
	tones := 0
	for _, c := range clips {
		a, err := audiofile.Load(fixtures.ClipPath(c))
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		d := dsp.NewToneDetector()
		d.SetLossyCodec(strings.HasPrefix(c.Channel, "opus"))
		events, _ := tsRun(d, a.Samples)
		dets := tsDetections(events)
		if c.File == os.Getenv("TONE_CLIP") {
			// Debug aid: TONE_CLIP=machine/x.wav go test -run TestToneCorpus -v
			// dumps the events and every hop around the clip's first tone.
			t.Logf("%s: %+v", c.File, events)
			from := 0
			if len(c.Tones) > 0 {
				from = c.Tones[0].OnsetMs - 100
			}
			for _, h := range dsp.ToneTrace(a.Samples) {
				if h.EndMs >= float64(from) && h.EndMs <= float64(from+700) {
					t.Logf("%6.0f pass=%v cv=%.3f lpc=%.3f | class=%d f=%.1f frac=%.3f env=%.2f", h.EndMs, h.Pass, h.PeriodCV, h.LPCError, h.Class, h.FreqHz, h.Frac, h.Env)
				}
			}
		}
		if c.Tone == "none" {
			if len(dets) > 0 {
				false_ = append(false_, fmt.Sprintf("%s (%s): %+v", c.File, c.Category, dets[0]))
			}
			continue
		}
		tones++
		if len(dets) == 0 {
			missed = append(missed, c.File+" ("+c.Category+", "+c.Channel+")")
			continue
		}
		first := dets[0]
		ok := false
		switch c.Tone {
		case "beep":
			ok = first.Detected == dsp.ToneBeep
		case "sit":
			ok = first.Detected == dsp.ToneSIT
		case "fax":
			ok = first.Detected == dsp.ToneFaxCED || first.Detected == dsp.ToneFaxCNG || first.Detected == dsp.ToneV21
		}
		if !ok {
			wrong = append(wrong, fmt.Sprintf("%s: %v, want %s", c.File, first.Detected, c.Tone))
			continue
		}
		if c.Tone == "beep" && c.Beep != nil {
			onset := int64(c.Beep.OnsetMs)
			lat = append(lat, float64(first.AtMs-onset))
			e := first.OnsetMs - onset
			onErr = append(onErr, float64(max(e, -e)))
			if e < -30 || e > 30 {
				wrong = append(wrong, fmt.Sprintf("%s: beep onset %d ms, labelled %d ms", c.File, first.OnsetMs, onset))
			}
		}
	}
	sort.Float64s(lat)
	sort.Float64s(onErr)
	q := func(v []float64, p float64) float64 {
		if len(v) == 0 {
			return 0
		}
		return v[int(p*float64(len(v)-1))]
	}
	t.Logf("%d clips, %d with tones: %d missed, %d wrong, %d false detections on %d tone-free clips",
		len(clips), tones, len(missed), len(wrong), len(false_), len(clips)-tones)
	t.Logf("beeps: latency p50 %.0f ms, p95 %.0f ms; |onset error| p50 %.0f ms, p95 %.0f ms", q(lat, .5), q(lat, .95), q(onErr, .5), q(onErr, .95))
	for _, m := range missed {
		t.Logf("missed: %s", m)
	}
	for _, w := range wrong {
		t.Logf("wrong: %s", w)
	}
	for _, f := range false_ {
		t.Errorf("false detection on a tone-free clip: %s", f)
	}
	rate := float64(tones-len(missed)-len(wrong)) / float64(max(1, tones))
	t.Logf("tone clips right: %.1f%%", 100*rate)
	if rate < 0.9 {
		t.Errorf("only %.1f%% of tone clips detected right, want ≥ 90%%", 100*rate)
	}
}
