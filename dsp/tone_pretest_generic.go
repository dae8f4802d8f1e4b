//go:build !amd64 || purego

package dsp

// blockSums writes Σx and Σx² of each 5 ms block of x.
func blockSums(x *[FrameSamples]int16, s, q *[FrameSamples / toneBlock]int64) {
	blockSumsGo(x, s, q)
}

// levelMasks returns, for up to 64 samples, the bit masks of those below lo
// and of those at or above hi.
func levelMasks(x []int16, lo, hi int32) (below, above uint64) {
	return levelMasksGo(x, lo, hi)
}
