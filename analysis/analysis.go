// Package analysis runs the live detector over recorded audio: it feeds a
// file's 8 kHz frames to the same engine.Detector a call uses, collects the
// events in audio time and, on request, a per-frame trace for plots. It is
// what `amdctl analyze`, the corpus accuracy test and the load generator's
// expectations share.
package analysis

import (
	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
)

// Result is one file's analysis, in the JSON shape `amdctl analyze --json`
// prints: {"file", "durationMs", "events"} or {"file", "error"}.
type Result struct {
	File       string         `json:"file"`
	DurationMs int64          `json:"durationMs"`
	Events     []engine.Event `json:"events"`
	// Trace is filled when asked for; it is for plots, not for JSON.
	Trace *Trace `json:"-"`
}

// FailedResult is the JSON shape of a file that could not be analysed.
type FailedResult struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// File loads path and runs the detector over it. opts go to the detector
// after the container's own hint, so a caller that knows the audio's history
// (say, Opus decoded to WAV) can say so with engine.WithLossyCodec.
func File(path string, cfg engine.Config, withTrace bool, opts ...engine.Option) (Result, error) {
	audio, err := audiofile.Load(path)
	if err != nil {
		return Result{File: path}, err
	}
	// The container says whether the audio went through Opus, whose pitch
	// drift and concealment the tone detector should tolerate; the daemon
	// knows the same from the negotiated codec.
	lossy := audio.Format == audiofile.FormatOggOpus || audio.Format == audiofile.FormatPcapOpus
	res, err := Samples(audio.Samples, cfg, withTrace, append([]engine.Option{engine.WithLossyCodec(lossy)}, opts...)...)
	res.File = path
	return res, err
}

// Samples runs a fresh detector over 8 kHz mono samples, frame by frame as a
// live call would, and ends it with Finish at the end of the audio. A last
// partial frame is padded with silence.
func Samples(samples []int16, cfg engine.Config, withTrace bool, opts ...engine.Option) (Result, error) {
	det, err := engine.NewDetector(cfg, opts...)
	if err != nil {
		return Result{}, err
	}
	res := Result{DurationMs: int64(len(samples)) * 1000 / dsp.SampleRate, Events: []engine.Event{}}
	var tr *tracer
	if withTrace {
		tr = newTracer(len(samples) / dsp.FrameSamples)
	}
	frame := make([]int16, dsp.FrameSamples)
	for off := 0; off < len(samples); off += dsp.FrameSamples {
		if det.Done() && tr == nil {
			break // nothing more to learn; a trace still wants the whole file
		}
		n := copy(frame, samples[off:])
		clear(frame[n:])
		if tr != nil {
			tr.add(frame)
		}
		if !det.Done() {
			res.Events = append(res.Events, det.Process(frame)...)
		}
	}
	if !det.Done() {
		res.Events = append(res.Events, det.Finish()...)
	}
	if tr != nil {
		res.Trace = tr.finish(res.Events)
	}
	return res, nil
}

// Decision returns the call's single decision event, if one was made.
func (r Result) Decision() (engine.Event, bool) {
	for _, ev := range r.Events {
		if ev.Type.Decision() {
			return ev, true
		}
	}
	return engine.Event{}, false
}

// First returns the first event of type t, if any.
func (r Result) First(t engine.EventType) (engine.Event, bool) {
	for _, ev := range r.Events {
		if ev.Type == t {
			return ev, true
		}
	}
	return engine.Event{}, false
}
