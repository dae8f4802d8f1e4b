package analysis

import (
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
)

// Trace is what the detector heard, frame by frame, for people tuning
// thresholds: the energy envelope, the adaptive noise floor, the VAD's speech
// segments and the tones, plus the decision points.
type Trace struct {
	FrameMs    int
	EnergyDB   []float64
	FloorDB    []float64
	Speech     []bool
	Tonal      []bool
	Tones      []ToneSpan
	Events     []engine.Event
	DurationMs int64
}

// ToneSpan is one confirmed tone.
type ToneSpan struct {
	Kind    string
	FreqHz  float64
	OnsetMs int64
	EndMs   int64
}

// tracer runs its own VAD and tone detector beside the Detector. They are the
// same deterministic dsp code the Detector runs, so the picture shows exactly
// what the Detector saw; keeping them outside keeps the Detector's hot path free
// of tracing.
type tracer struct {
	vad   *dsp.VAD
	tone  *dsp.ToneDetector
	tr    *Trace
	frame int
	open  map[dsp.ToneKind]int // index into tr.Tones of a tone not yet ended
}

func newTracer(frames int) *tracer {
	return &tracer{
		vad:  dsp.NewVAD(),
		tone: dsp.NewToneDetector(),
		tr: &Trace{
			FrameMs:  dsp.FrameMs,
			EnergyDB: make([]float64, 0, frames),
			FloorDB:  make([]float64, 0, frames),
			Speech:   make([]bool, 0, frames),
			Tonal:    make([]bool, 0, frames),
		},
		open: map[dsp.ToneKind]int{},
	}
}

func (t *tracer) add(frame []int16) {
	v := t.vad.Process(frame)
	tr := t.tone.Process(frame)
	t.tr.EnergyDB = append(t.tr.EnergyDB, v.EnergyDB)
	t.tr.FloorDB = append(t.tr.FloorDB, v.NoiseFloorDB)
	t.tr.Speech = append(t.tr.Speech, v.Speech)
	t.tr.Tonal = append(t.tr.Tonal, tr.Tonal)
	nowMs := int64(t.frame+1) * dsp.FrameMs
	if tr.Detected != dsp.ToneNone {
		t.open[tr.Detected] = len(t.tr.Tones)
		t.tr.Tones = append(t.tr.Tones, ToneSpan{Kind: tr.Detected.String(), FreqHz: tr.FreqHz, OnsetMs: tr.OnsetMs, EndMs: nowMs})
	}
	if tr.Ended != dsp.ToneNone {
		if i, ok := t.open[tr.Ended]; ok {
			t.tr.Tones[i].EndMs = tr.OnsetMs + tr.DurationMs
			delete(t.open, tr.Ended)
		}
	}
	t.frame++
}

func (t *tracer) finish(events []engine.Event) *Trace {
	end := int64(t.frame) * dsp.FrameMs
	for _, i := range t.open {
		t.tr.Tones[i].EndMs = end
	}
	t.tr.Events = events
	t.tr.DurationMs = end
	return t.tr
}
