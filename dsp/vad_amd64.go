//go:build !purego

package dsp

// The VAD's band limit for whole frames in SSE2 (vad_amd64.s): the scalar
// filter loop was two thirds of the VAD's cost per frame.

//go:noescape
func hpEnergySSE2(b *[vadBufLen]int32, frame *[FrameSamples]int16, p *[vadBufLen + 4]int32) int64

// hpEnergyFrame is hpEnergy for a whole frame over the VAD's padded buffer.
func hpEnergyFrame(b *[vadBufLen]int32, frame *[FrameSamples]int16) int64 {
	var p [vadBufLen + 4]int32 // prefix sums, on the stack
	return hpEnergySSE2(b, frame, &p)
}
