package dsp

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// refCrossings is the plain hysteresis scan crossings must equal.
func refCrossings(x []int16, lo, hi int32) []uint8 {
	var out []uint8
	armed := false
	for i := 1; i < FrameSamples; i++ {
		v := int32(x[i])
		if v < lo {
			armed = true
		} else if armed && v >= hi {
			out = append(out, uint8(i))
			armed = false
		}
	}
	return out
}

func checkCrossings(t *testing.T, x []int16, lo, hi int32) {
	t.Helper()
	var at [128]uint8
	k := crossings(x, lo, hi, &at)
	want := refCrossings(x, lo, hi)
	if int(k) != len(want) {
		t.Fatalf("lo=%d hi=%d: %d crossings, want %d", lo, hi, k, len(want))
	}
	for i, w := range want {
		if at[i] != w {
			t.Fatalf("lo=%d hi=%d: crossing %d at sample %d, want %d", lo, hi, i, at[i], w)
		}
	}
}

// TestToneCrossingsMatchScan: the bit-mask crossing scan finds exactly the
// crossings of the sequential hysteresis scan, across word boundaries
// (samples 64 and 128), on tones, noise, alternation and extremes.
func TestToneCrossingsMatchScan(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	gens := []struct {
		name string
		gen  func(i int) float64
	}{
		{"tone-1000", func(i int) float64 { return 9000 * math.Sin(2*math.Pi*1000*float64(i)/SampleRate) }},
		{"tone-2600", func(i int) float64 { return 9000 * math.Sin(2*math.Pi*2600*float64(i)/SampleRate) }},
		{"tone-300-dc", func(i int) float64 { return 500 + 3000*math.Sin(2*math.Pi*300*float64(i)/SampleRate) }},
		{"alternating", func(i int) float64 { return float64(1-2*(i&1)) * 32767 }},
		{"noise", func(int) float64 { return rng.NormFloat64() * 8000 }},
		{"slow-edge-at-64", func(i int) float64 { return float64(i-64) * 400 }},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			x := make([]int16, FrameSamples)
			for i := range x {
				x[i] = int16(max(-32768, min(32767, math.Round(g.gen(i)))))
			}
			for _, th := range [][2]int32{{-40, 40}, {-3000, 3000}, {-32768, -32767}, {32767, 32768}, {-60000, 60000}, {100, 900}} {
				checkCrossings(t, x, th[0], th[1])
			}
		})
	}
}

// FuzzToneCrossings: any frame and thresholds (lo < hi), same crossings as
// the sequential scan.
func FuzzToneCrossings(f *testing.F) {
	f.Add(make([]byte, 2*FrameSamples), int32(-40), int32(40))
	seed := make([]byte, 2*FrameSamples)
	for i := 0; i < FrameSamples; i++ {
		binary.LittleEndian.PutUint16(seed[2*i:], uint16(int16(8000*math.Sin(float64(i)))))
	}
	f.Add(seed, int32(-1000), int32(1000))
	f.Fuzz(func(t *testing.T, b []byte, lo, hi int32) {
		if lo >= hi || lo < -70000 || hi > 70000 {
			return
		}
		x := make([]int16, FrameSamples)
		for i := 0; i < FrameSamples && 2*i+1 < len(b); i++ {
			x[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		checkCrossings(t, x, lo, hi)
	})
}

// checkKernels compares the pre-test's per-sample kernels (SSE2 on amd64)
// with their pure-Go references on one frame and threshold pair.
func checkKernels(t *testing.T, x *[FrameSamples]int16, lo, hi int32) {
	t.Helper()
	var s, q, ws, wq [FrameSamples / toneBlock]int64
	blockSums(x, &s, &q)
	blockSumsGo(x, &ws, &wq)
	if s != ws || q != wq {
		t.Fatalf("blockSums Σx %v Σx² %v, want %v %v", s, q, ws, wq)
	}
	for _, n := range []int{0, 5, 16, 32, 48, 64} {
		b, a := levelMasks(x[:n], lo, hi)
		wb, wa := levelMasksGo(x[:n], lo, hi)
		if b != wb || a != wa {
			t.Fatalf("levelMasks n=%d lo=%d hi=%d: below %#x above %#x, want %#x %#x", n, lo, hi, b, a, wb, wa)
		}
	}
}

// TestPretestKernelsMatchGo: the vector kernels equal the pure-Go ones on
// full-scale extremes (where PMADDWD's one overflow lives), noise, and
// thresholds inside, at the edge of and beyond int16's range.
func TestPretestKernelsMatchGo(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	gens := []struct {
		name string
		gen  func(i int) int16
	}{
		{"min", func(int) int16 { return -32768 }},
		{"max", func(int) int16 { return 32767 }},
		{"alternating-extremes", func(i int) int16 { return int16(-32768 + 65535*(i&1)) }},
		{"noise", func(int) int16 { return int16(rng.Uint32()) }},
		{"ramp", func(i int) int16 { return int16(i*409 - 32768) }},
	}
	thresholds := [][2]int32{{-40, 40}, {-32768, -32767}, {-32767, -32768}, {32767, 32768}, {32768, 32769},
		{-32769, -32768}, {-60000, 60000}, {60000, -60000}, {0, 0}}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			var x [FrameSamples]int16
			for i := range x {
				x[i] = g.gen(i)
			}
			for _, th := range thresholds {
				checkKernels(t, &x, th[0], th[1])
			}
		})
	}
}

// FuzzPretestKernels: any frame and thresholds, the vector kernels equal
// the pure-Go ones.
func FuzzPretestKernels(f *testing.F) {
	f.Add(make([]byte, 2*FrameSamples), int32(-40), int32(40))
	f.Add([]byte{0, 0x80, 0xff, 0x7f}, int32(40000), int32(-40000))
	f.Fuzz(func(t *testing.T, b []byte, lo, hi int32) {
		var x [FrameSamples]int16
		for i := 0; i < FrameSamples && 2*i+1 < len(b); i++ {
			x[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		checkKernels(t, &x, lo, hi)
	})
}
