// Package engine is the per-call answering-machine detector: a state machine
// fed 20 ms PCM frames in audio time that emits AMD events (amd_*) with their
// evidence. It reads no sockets and knows nothing of SIP or HTTP, so the same
// code decides for live calls and for recordings, and a recording reproduces a
// live decision exactly.
//
// Use:
//
//	d, err := engine.NewDetector(cfg) // cfg.WithDefaults(), then Validate
//	for frame := range frames {       // 160 samples, 8 kHz, in order
//		for _, ev := range d.Process(frame) { // a view, valid until the next call
//			publish(ev)
//		}
//		if d.Done() {
//			break
//		}
//	}
//	if !d.Done() {
//		publish(d.Finish()...) // or d.Stop() on amd.stop, d.Fail(reason, msg) on media errors
//	}
//
// One goroutine (the call's owner) owns a Detector; Process allocates nothing.
// The decision rules, their constants and why they hold are documented in
// rules.go; confidence (margins past the thresholds) in evidence.go. The
// stages underneath are dsp.VAD (speech frames over an adaptive noise floor),
// dsp.Segmenter (words and utterances) and dsp.ToneDetector (beeps, fax, SIT).
// Package enginetest builds synthetic calls for tests.
package engine
