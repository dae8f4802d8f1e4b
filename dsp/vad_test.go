package dsp_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine/enginetest"
)

// channel applies a telephone channel to rendered audio.
type channel string

const (
	chPCM      channel = "pcm"
	chMulaw    channel = "ulaw"
	chOpusLoss channel = "opus10%"
)

func applyChannel(t testing.TB, ch channel, pcm []int16, seed uint64) []int16 {
	t.Helper()
	switch ch {
	case chMulaw:
		return enginetest.Mulaw(pcm)
	case chOpusLoss:
		out, err := enginetest.OpusLoss(pcm, 16000, 0.1, seed)
		if err != nil {
			t.Fatalf("opus channel: %v", err)
		}
		return out
	}
	return pcm
}

// vadRun feeds pcm to a fresh VAD frame by frame.
func vadRun(pcm []int16) []dsp.VADFrame {
	v := dsp.NewVAD()
	out := make([]dsp.VADFrame, 0, len(pcm)/dsp.FrameSamples)
	for off := 0; off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
		out = append(out, v.Process(pcm[off:off+dsp.FrameSamples]))
	}
	return out
}

// vadScore compares VAD frames with the phrase spans: hit is the share of
// frames inside phrases called speech (phrases include their short internal
// gaps, so 1.0 is not expected), fa the share of frames well outside phrases
// called speech (skipping the first 300 ms of adaptation and a 100 ms
// hangover margin after each phrase).
func vadScore(frames []dsp.VADFrame, spans [][2]int64) (hit, fa float64) {
	var in, inSp, out, outSp int
	for i, f := range frames {
		t0 := int64(i * dsp.FrameMs)
		t1 := t0 + dsp.FrameMs
		inside, near := false, false
		for _, s := range spans {
			if t0 >= s[0] && t1 <= s[1] {
				inside = true
			}
			if t1 > s[0]-dsp.FrameMs && t0 < s[1]+100 {
				near = true
			}
		}
		switch {
		case inside:
			in++
			if f.Speech {
				inSp++
			}
		case !near && t0 >= 300:
			out++
			if f.Speech {
				outSp++
			}
		}
	}
	if in > 0 {
		hit = float64(inSp) / float64(in)
	}
	if out > 0 {
		fa = float64(outSp) / float64(out)
	}
	return hit, fa
}

type vadCase struct {
	speechDB float64
	noise    enginetest.Noise
	noiseDB  float64
	ch       channel
	f0       float64
}

func (c vadCase) name() string {
	return fmt.Sprintf("speech%.0f_%s%.0f_%s_f0%.0f", c.speechDB, c.noise, c.noiseDB, c.ch, c.f0)
}

var vadCases = []vadCase{
	{-10, enginetest.NoiseNone, 0, chPCM, 120},
	{-20, enginetest.NoiseWhite, -60, chMulaw, 210},
	{-25, enginetest.NoiseWhite, -45, chPCM, 120},
	{-35, enginetest.NoiseBrown, -40, chPCM, 120},
	{-35, enginetest.NoiseBrown, -40, chMulaw, 210},
	{-30, enginetest.NoisePink, -45, chPCM, 150},
	{-30, enginetest.NoiseHum, -35, chPCM, 110},
	{-20, enginetest.NoiseWhite, -55, chOpusLoss, 120},
	{-25, enginetest.NoisePink, -50, chOpusLoss, 220},
}

func TestVADSpeechInNoise(t *testing.T) {
	t.Parallel()
	for i, tc := range vadCases {
		t.Run(tc.name(), func(t *testing.T) {
			t.Parallel()
			c := enginetest.New(uint64(100+i), tc.f0)
			c.Silence(1500).Say(3, tc.speechDB).Silence(700).Say(5, tc.speechDB).Silence(1500).Say(2, tc.speechDB).Silence(1000)
			pcm := applyChannel(t, tc.ch, c.Render(tc.noise, tc.noiseDB), uint64(i))
			hit, fa := vadScore(vadRun(pcm), c.Spans())
			t.Logf("hit %.2f false alarm %.3f", hit, fa)
			if hit < 0.6 {
				t.Errorf("VAD found %.0f%% of speech frames, want ≥ 60%%", hit*100)
			}
			if fa > 0.02 {
				t.Errorf("VAD called %.1f%% of noise frames speech, want ≤ 2%%", fa*100)
			}
		})
	}
}

// TestVADNoiseOnly: stationary noise and hum of any colour and level, and a
// noise level that steps, are not speech beyond the adaptation time.
func TestVADNoiseOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		noise enginetest.Noise
		db    float64
	}{
		{enginetest.NoiseWhite, -30}, {enginetest.NoiseWhite, -50},
		{enginetest.NoisePink, -30}, {enginetest.NoisePink, -45},
		{enginetest.NoiseBrown, -20}, {enginetest.NoiseBrown, -40},
		{enginetest.NoiseHum, -20}, {enginetest.NoiseHum, -40},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%s%.0f", tc.noise, tc.db), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			x := enginetest.MakeNoise(rng, tc.noise, 8000*6, tc.db)
			pcm := make([]int16, len(x))
			for j, v := range x {
				pcm[j] = int16(math.Max(-32768, math.Min(32767, v*32767)))
			}
			for _, ch := range []channel{chPCM, chMulaw} {
				frames := vadRun(applyChannel(t, ch, pcm, 1))
				n := 0
				for _, f := range frames[15:] {
					if f.Speech {
						n++
					}
				}
				if n > len(frames)/100 {
					t.Errorf("%s: %d of %d noise frames called speech", ch, n, len(frames))
				}
			}
		})
	}
}

// TestVADNoiseStep: a stationary noise that jumps 15 dB is speech at most
// for the 1 s stationarity window (plus onset), not for the 2 s minimum
// window; the segmenter then refuses the flat burst as a word (see
// TestSegmenterNoWordsWithoutSpeech).
func TestVADNoiseStep(t *testing.T) {
	t.Parallel()
	for _, kind := range []enginetest.Noise{enginetest.NoiseWhite, enginetest.NoisePink, enginetest.NoiseBrown} {
		t.Run(kind.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			lo := enginetest.MakeNoise(rng, kind, 8000*2, -55)
			hi := enginetest.MakeNoise(rng, kind, 8000*3, -40)
			x := append(lo, hi...)
			pcm := make([]int16, len(x))
			for j, v := range x {
				pcm[j] = int16(math.Max(-32768, math.Min(32767, v*32767)))
			}
			frames := vadRun(pcm)
			run := 0
			for _, f := range frames[100:] {
				if f.Speech {
					run++
				}
			}
			t.Logf("speech frames after the step: %d", run)
			if run*dsp.FrameMs > 1100 {
				t.Errorf("noise step called speech for %d ms, want ≤ 1100", run*dsp.FrameMs)
			}
			// The floor is in band-limited energy, so compare it with the
			// band-limited energy of the new noise, not its full-band level.
			var mean float64
			tail := frames[len(frames)-50:]
			for _, f := range tail {
				mean += f.EnergyDB / float64(len(tail))
			}
			last := tail[len(tail)-1]
			if d := mean - last.NoiseFloorDB; d < 0 || d > 6 {
				t.Errorf("floor after the step %.1f dB, noise energy %.1f dB: want the floor within 6 dB below", last.NoiseFloorDB, mean)
			}
		})
	}
}

func TestVADDigitalSilenceAndReset(t *testing.T) {
	v := dsp.NewVAD()
	zero := make([]int16, dsp.FrameSamples)
	for i := 0; i < 50; i++ {
		f := v.Process(zero)
		if f.Speech || f.EnergyDB > -99 {
			t.Fatalf("frame %d of digital silence: %+v", i, f)
		}
	}
	// Reset must give the same output as a fresh VAD on the same input.
	c := enginetest.New(9, 150)
	pcm := c.Silence(500).Say(4, -20).Silence(500).Render(enginetest.NoiseWhite, -50)
	a := vadRun(pcm)
	v.Reset()
	for i := range a {
		b := v.Process(pcm[i*dsp.FrameSamples : (i+1)*dsp.FrameSamples])
		if b != a[i] {
			t.Fatalf("frame %d after Reset: %+v, fresh VAD: %+v", i, b, a[i])
		}
	}
}

func TestVADZeroAllocs(t *testing.T) {
	v := dsp.NewVAD()
	frame := make([]int16, dsp.FrameSamples)
	for i := range frame {
		frame[i] = int16(1000 * math.Sin(float64(i)))
	}
	if a := testing.AllocsPerRun(100, func() { v.Process(frame) }); a != 0 {
		t.Fatalf("VAD.Process allocates %.0f times per frame", a)
	}
}

func BenchmarkVADProcess(b *testing.B) {
	c := enginetest.New(1, 140)
	pcm := c.Silence(500).Say(6, -20).Silence(500).Render(enginetest.NoisePink, -50)
	frames := len(pcm) / dsp.FrameSamples
	v := dsp.NewVAD()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := tsCPUTime()
	for i := 0; b.Loop(); i++ {
		k := i % frames
		v.Process(pcm[k*dsp.FrameSamples : (k+1)*dsp.FrameSamples])
	}
	// CPU time (getrusage), so the team's concurrent builds do not skew it.
	cpu := float64((tsCPUTime() - cpu0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(cpu, "cpu_ns/frame")
	b.ReportMetric(float64(dsp.FrameMs)*1e6/cpu, "x_realtime")
}

// vadSink keeps BenchmarkNewVAD's VADs on the heap, where a call's lives.
var vadSink *dsp.VAD

// BenchmarkNewVAD: one call's VAD (B/op is its memory).
func BenchmarkNewVAD(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		vadSink = dsp.NewVAD()
	}
}
