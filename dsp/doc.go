// Package dsp holds the pure signal code of the AMD engine: G.711 tables, the
// Opus decoder behind a small interface, the voice activity detector, burst
// (word) segmentation and FFT tone detection. Nothing here does I/O or knows
// about calls; everything works on 8 kHz mono int16 frames of 20 ms.
package dsp

const (
	// SampleRate is the rate every detector stage works at.
	SampleRate = 8000
	// FrameMs is the duration of one detector frame.
	FrameMs = 20
	// FrameSamples is the number of samples in one 20 ms frame at 8 kHz.
	FrameSamples = SampleRate * FrameMs / 1000
)
