//go:build !purego

package dsp

// The pre-test's two per-sample scans in SSE2 (tone_pretest_amd64.s): they
// were two thirds of a pre-test-only frame's cost in pure Go, which cannot
// use vector instructions.

//go:noescape
func blockSumsSSE2(x *[FrameSamples]int16, s, q *[FrameSamples / toneBlock]int64)

//go:noescape
func levelMasksSSE2(x *int16, n int, lo, hm1 int32) (below, above uint64)

// blockSums writes Σx and Σx² of each 5 ms block of x.
func blockSums(x *[FrameSamples]int16, s, q *[FrameSamples / toneBlock]int64) {
	blockSumsSSE2(x, s, q)
}

// levelMasks returns, for up to 64 samples, the bit masks of those below lo
// and of those at or above hi.
func levelMasks(x []int16, lo, hi int32) (below, above uint64) {
	n := min(len(x), 64)
	if n == 0 || n%16 != 0 {
		return levelMasksGo(x, lo, hi)
	}
	// The kernel compares int16s: clamp the thresholds into range, then
	// settle the cases clamping would get wrong (every sample below a lo
	// above 32767; every sample at or above a hi below −32767).
	below, above = levelMasksSSE2(&x[0], n, min(max(lo, -32768), 32767), min(max(hi-1, -32768), 32767))
	all := uint64(1)<<n - 1 // n = 64: 1<<64 is 0, so all ones
	if lo > 32767 {
		below = all
	}
	if hi-1 < -32768 {
		above = all
	}
	return below, above
}
