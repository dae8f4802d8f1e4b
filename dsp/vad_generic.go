//go:build !amd64 || purego

package dsp

// hpEnergyFrame is hpEnergy for a whole frame over the VAD's padded buffer.
func hpEnergyFrame(b *[vadBufLen]int32, frame *[FrameSamples]int16) int64 {
	return hpEnergy(b[vadBufPad:], frame[:])
}
