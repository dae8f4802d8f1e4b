package dsp

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// checkHPEnergy runs frames through hpEnergyFrame (the SSE2 kernel on
// amd64) and through the scalar hpEnergy, each with its own buffer carried
// from frame to frame as energyDB carries it, and wants equal sums and
// equal buffers.
func checkHPEnergy(t *testing.T, frames [][FrameSamples]int16) {
	t.Helper()
	var kb, gb [vadBufLen]int32
	const h = vadHPTaps - 1
	for i := range frames {
		got := hpEnergyFrame(&kb, &frames[i])
		want := hpEnergy(gb[vadBufPad:], frames[i][:])
		if got != want {
			t.Fatalf("frame %d: Σy² %d, scalar filter %d", i, got, want)
		}
		if kb != gb {
			t.Fatalf("frame %d: buffers differ", i)
		}
		copy(kb[vadBufPad:vadBufPad+h], kb[vadBufPad+FrameSamples:])
		copy(gb[vadBufPad:vadBufPad+h], gb[vadBufPad+FrameSamples:])
	}
}

// TestVADFilterKernelMatchesGo: the vector band limit equals the scalar
// one on full-scale extremes (the largest outputs and prefix sums), noise,
// a tone and silence, across frame boundaries.
func TestVADFilterKernelMatchesGo(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	gens := []struct {
		name string
		gen  func(i int) int16
	}{
		{"min", func(int) int16 { return -32768 }},
		{"max", func(int) int16 { return 32767 }},
		{"square-extremes", func(i int) int16 { return int16(-32768 + 65535*((i/16)&1)) }},
		{"alternating-extremes", func(i int) int16 { return int16(-32768 + 65535*(i&1)) }},
		{"noise", func(int) int16 { return int16(rng.Uint32()) }},
		{"tone", func(i int) int16 { return int16(9000 * math.Sin(2*math.Pi*440*float64(i)/SampleRate)) }},
		{"silence", func(int) int16 { return 0 }},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			frames := make([][FrameSamples]int16, 5)
			for f := range frames {
				for i := range frames[f] {
					frames[f][i] = g.gen(f*FrameSamples + i)
				}
			}
			checkHPEnergy(t, frames)
		})
	}
}

// FuzzVADFilterKernel: any two consecutive frames, the vector band limit
// equals the scalar one.
func FuzzVADFilterKernel(f *testing.F) {
	f.Add(make([]byte, 4*FrameSamples))
	f.Add([]byte{0, 0x80, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := make([][FrameSamples]int16, 2)
		for i := 0; i < 2*FrameSamples && 2*i+1 < len(b); i++ {
			frames[i/FrameSamples][i%FrameSamples] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		checkHPEnergy(t, frames)
	})
}

// TestVADFilterStream checks energyDB against the band limit's definition
// over the whole stream — y[n] = 31·x[n−15] − Σx[n−30..n], zeros before
// the stream starts, one output per input sample — with the stream cut into
// whole frames (the vector kernel on amd64) and short ones (the scalar
// loop) in turn, so the history carried between the two paths is checked
// too.
func TestVADFilterStream(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	sizes := []int{FrameSamples, FrameSamples, 37, FrameSamples, 1, 159, FrameSamples, 2, FrameSamples, FrameSamples}
	total := 0
	for _, n := range sizes {
		total += n
	}
	x := make([]int16, total)
	for i := range x {
		switch {
		case i%500 < 40:
			x[i] = int16(-32768 + 65535*(i&1)) // full-scale bursts
		default:
			x[i] = int16(rng.NormFloat64() * 6000)
		}
	}
	at := func(i int) int64 {
		if i < 0 {
			return 0
		}
		return int64(x[i])
	}
	v := NewVAD()
	off := 0
	for f, n := range sizes {
		v.energyDB(x[off : off+n])
		var acc int64
		for i := off; i < off+n; i++ {
			y := vadHPTaps * at(i-vadHPDelay)
			for k := i - (vadHPTaps - 1); k <= i; k++ {
				y -= at(k)
			}
			acc += y * y
		}
		want := float64(acc) / float64(n) / (vadHPTaps * vadHPTaps) / (32768.0 * 32768.0)
		if v.lastPow != want {
			t.Fatalf("frame %d (%d samples): power %g, by definition %g", f, n, v.lastPow, want)
		}
		off += n
	}
}
