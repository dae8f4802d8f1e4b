package dsp_test

import (
	"fmt"
	"math"

	"github.com/amd-engine/amd/dsp"
)

// One detector per call, fed every 20 ms frame in order by the call's owner
// goroutine; the result says when a tone is confirmed (here 60 ms after it
// starts) and when it ended, with its measured onset and duration. Ended
// comes ~60 ms after the tone stops: a confirmed tone may drop out for 40 ms
// (a fax phase reversal) and still be the same tone; behind a lossy codec
// (SetLossyCodec) 100 ms, for packet-loss concealment.
func ExampleToneDetector() {
	// 300 ms of silence, then a 1 kHz beep of 400 ms at −12 dBFS, then silence.
	audio := make([]int16, 8000)
	for i := 2400; i < 5600; i++ {
		audio[i] = int16(8231 * math.Sin(2*math.Pi*1000*float64(i)/dsp.SampleRate))
	}

	d := dsp.NewToneDetector()
	for off := 0; off+dsp.FrameSamples <= len(audio); off += dsp.FrameSamples {
		r := d.Process(audio[off : off+dsp.FrameSamples])
		now := (off + dsp.FrameSamples) * 1000 / dsp.SampleRate
		if r.Detected != dsp.ToneNone {
			fmt.Printf("%d ms: %v detected, %.0f Hz, started at %d ms\n", now, r.Detected, r.FreqHz, r.OnsetMs)
		}
		if r.Ended != dsp.ToneNone {
			fmt.Printf("%d ms: %v ended after %d ms\n", now, r.Ended, r.DurationMs)
		}
	}
	// Output:
	// 360 ms: beep detected, 1000 Hz, started at 300 ms
	// 760 ms: beep ended after 400 ms
}
