package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// TestCorpusReport is a tuning aid, not the accuracy gate (the lead's corpus
// test is): with AMD_CORPUS=dir/manifest.jsonl it runs the detector over a
// generated corpus and logs per-category accuracy, human decision latency
// after the first utterance, and every miss. AMD_CORPUS_FAIL=1 turns the
// product targets into failures.
func TestCorpusReport(t *testing.T) {
	path := os.Getenv("AMD_CORPUS")
	if path == "" {
		t.Skip("set AMD_CORPUS=path/to/manifest.jsonl")
	}
	clips, err := fixtures.LoadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]engine.EventType{
		fixtures.LabelHuman:    engine.EventHumanDetected,
		fixtures.LabelMachine:  engine.EventMachineDetected,
		fixtures.LabelNoSpeech: engine.EventNoSpeechDetected,
	}
	type tally struct{ n, ok int }
	cats := map[string]*tally{}
	labels := map[string]*tally{}
	var lat []int64
	var misses []string
	for _, c := range clips {
		a, err := audiofile.Load(filepath.Join(filepath.Dir(path), c.File))
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		// The daemon knows the negotiated codec, so the report tells the
		// detector when the clip's channel was Opus.
		lossy := c.Channel == fixtures.ChannelOpus || c.Channel == fixtures.ChannelOpusLoss
		if os.Getenv("AMD_CORPUS_NO_CODEC") != "" {
			lossy = false
		}
		res, err := runClip(a.Samples, engine.WithLossyCodec(lossy))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := res.Decision()
		ct, lt := cats[c.Category], labels[c.Label]
		if ct == nil {
			ct = &tally{}
			cats[c.Category] = ct
		}
		if lt == nil {
			lt = &tally{}
			labels[c.Label] = lt
		}
		ct.n++
		lt.n++
		if d.Type == want[c.Label] {
			ct.ok++
			lt.ok++
			if c.Label == fixtures.LabelHuman && len(c.Speech) > 0 {
				lat = append(lat, d.AtMs-int64(c.Speech[0][1]))
			}
		} else {
			var evs []string
			for _, e := range res.Events {
				evs = append(evs, fmt.Sprintf("%s@%d(%s,w%d,s%d)", strings.TrimPrefix(string(e.Type), "amd_"), e.AtMs, e.Reason, e.WordCount, e.SpeechMs))
			}
			misses = append(misses, fmt.Sprintf("%s [%s %s %s %.0fdB snr=%v] %q speech=%v: %s", c.File, c.Category, c.Channel, c.Noise, c.LevelDbfs, snr(c.SNRDb), c.Text, c.Speech, strings.Join(evs, " ")))
		}
	}
	keys := make([]string, 0, len(cats))
	for k := range cats {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-18s %3d/%3d %.1f%%", k, cats[k].ok, cats[k].n, 100*float64(cats[k].ok)/float64(cats[k].n))
	}
	for k, v := range labels {
		t.Logf("LABEL %-10s %3d/%3d %.1f%%", k, v.ok, v.n, 100*float64(v.ok)/float64(v.n))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		t.Logf("human latency after first utterance: p50 %d ms p90 %d ms max %d ms", lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
	}
	for _, m := range misses {
		t.Log("MISS " + m)
	}
	if os.Getenv("AMD_CORPUS_FAIL") != "" {
		for k, min := range map[string]float64{fixtures.LabelHuman: 0.97, fixtures.LabelMachine: 0.95, fixtures.LabelNoSpeech: 0.95} {
			if v := labels[k]; v != nil && float64(v.ok)/float64(v.n) < min {
				t.Errorf("%s accuracy %.1f%% below %.0f%%", k, 100*float64(v.ok)/float64(v.n), min*100)
			}
		}
	}
}

// clipResult is one clip's events.
type clipResult struct{ Events []engine.Event }

// Decision returns the clip's decision event, if any.
func (r clipResult) Decision() (engine.Event, bool) {
	for _, e := range r.Events {
		if e.Type.Decision() {
			return e, true
		}
	}
	return engine.Event{}, false
}

// runClip runs a detector over samples as analysis.Samples does (frame by
// frame, last frame padded, Finish at the end), with detector options.
func runClip(samples []int16, opts ...engine.Option) (clipResult, error) {
	d, err := engine.NewDetector(engine.Config{}, opts...)
	if err != nil {
		return clipResult{}, err
	}
	var res clipResult
	frame := make([]int16, dsp.FrameSamples)
	for off := 0; off < len(samples) && !d.Done(); off += dsp.FrameSamples {
		n := copy(frame, samples[off:])
		clear(frame[n:])
		res.Events = append(res.Events, d.Process(frame)...)
	}
	if !d.Done() {
		res.Events = append(res.Events, d.Finish()...)
	}
	return res, nil
}

func snr(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", *p)
}

// TestDebugFile prints what the detector's stages saw, frame by frame, for
// AMD_DEBUG_FILE (a tuning aid).
func TestDebugFile(t *testing.T) {
	path := os.Getenv("AMD_DEBUG_FILE")
	if path == "" {
		t.Skip("set AMD_DEBUG_FILE=clip.wav")
	}
	a, err := audiofile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	v := dsp.NewVAD()
	s := dsp.NewSegmenter(dsp.SegmenterConfig{UtteranceGapMs: engine.HumanSilenceMs})
	tone := dsp.NewToneDetector()
	for off, k := 0, 0; off+dsp.FrameSamples <= len(a.Samples); off, k = off+dsp.FrameSamples, k+1 {
		f := a.Samples[off : off+dsp.FrameSamples]
		vf := v.Process(f)
		tr := tone.Process(f)
		sf := s.Push(vf, tr.Tonal)
		mark := func(b bool, c string) string {
			if b {
				return c
			}
			return "."
		}
		t.Logf("%5d E%6.1f F%6.1f sp%4.1f %s%s%s%s w%2d sp%5d sil%5d %v", (k+1)*dsp.FrameMs, vf.EnergyDB, vf.NoiseFloorDB, vf.NoiseSpreadDB,
			mark(vf.Speech, "v"), mark(sf.Speech, "S"), mark(tr.Tonal, "T"), mark(tr.Detected != dsp.ToneNone, "D"), sf.Words, sf.SpeechMs, sf.SilenceMs, tr.Detected)
	}
}
