package dsp

import "math"

// Test-only access to the tone detector's internals, for the external
// dsp_test package's diagnostics and benchmarks.

// ToneHopTrace is one hop's measurements.
type ToneHopTrace struct {
	EndMs      float64
	Pass       bool
	PeriodCV   float64
	LPCError   float64
	PretestHz  float64
	MeanSquare float64
	Class      int
	FreqHz     float64
	Frac       float64
	Env        float64
}

// ToneTrace runs a fresh detector over x and returns every hop's measurements.
func ToneTrace(x []int16) []ToneHopTrace {
	d := NewToneDetector()
	var out []ToneHopTrace
	d.trace = func(end int64, pre tonePretestResult, hp toneHopInfo) {
		out = append(out, ToneHopTrace{
			EndMs: float64(end) * 1000 / SampleRate, Pass: pre.pass(), PeriodCV: pre.PeriodCV, LPCError: pre.LPCError,
			PretestHz: pre.FreqHz, MeanSquare: pre.MeanSquare, Class: int(hp.class), FreqHz: hp.freq, Frac: hp.frac, Env: hp.env,
		})
	}
	for i := 0; i+FrameSamples <= len(x); i += FrameSamples {
		d.Process(x[i : i+FrameSamples])
	}
	return out
}

// TonePretestPass runs the pre-test alone on one frame (FrameSamples
// samples, rounded and clipped to int16).
func TonePretestPass(frame []float64) bool {
	var x [FrameSamples]int16
	for i := range x {
		if i < len(frame) {
			x[i] = int16(max(-32768, min(32767, math.Round(frame[i]))))
		}
	}
	var fs toneFrameSums
	sumFrame(x[:], &fs)
	return tonePretest(x[:], &fs).pass()
}
