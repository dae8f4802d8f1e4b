package dsp_test

import (
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/fixtures"
)

// tsBenchFrames renders x into whole frames.
func tsBenchFrames(x []float64) [][]int16 {
	pcm := tsToInt16(x)
	var frames [][]int16
	for i := 0; i+dsp.FrameSamples <= len(pcm); i += dsp.FrameSamples {
		frames = append(frames, pcm[i:i+dsp.FrameSamples])
	}
	return frames
}

func benchDetector(b *testing.B, frames [][]int16) {
	d := dsp.NewToneDetector()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d.Process(frames[i%len(frames)])
	}
	st := d.Stats()
	b.ReportMetric(float64(b.N)*dsp.FrameMs/1000/b.Elapsed().Seconds(), "x_realtime")
	b.ReportMetric(float64(st.FFTFrames)/float64(max(1, st.Frames)), "fft_frac")
}

// BenchmarkToneDetectorSpeech: the common case — speech-like audio, where
// the pre-test keeps most frames away from the FFT.
func BenchmarkToneDetectorSpeech(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	benchDetector(b, tsBenchFrames(tsSpeechLike(rng, 10000, -15)))
}

// BenchmarkToneDetectorTone: the worst case — a continuous beep, every frame
// passes the pre-test and costs two FFTs.
func BenchmarkToneDetectorTone(b *testing.B) {
	benchDetector(b, tsBenchFrames(tsSine(1000, -15, 10000)))
}

// BenchmarkTonePretest: the per-frame gate alone, on speech-like frames.
func BenchmarkTonePretest(b *testing.B) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := tsSpeechLike(rng, 4000, -15)
	pass := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		off := (i * dsp.FrameSamples) % (len(x) - dsp.FrameSamples)
		if dsp.TonePretestPass(x[off : off+dsp.FrameSamples]) {
			pass++
		}
	}
	b.ReportMetric(float64(pass)/float64(b.N), "pass_frac")
	b.ReportMetric(float64(b.N)*dsp.FrameMs/1000/b.Elapsed().Seconds(), "x_realtime")
}

// BenchmarkFFT256: one analysis through gonum's 256-point real FFT plan —
// Hann window, transform into a preallocated slice, power spectrum. The
// detector's hops now use tone_fft.go (BenchmarkToneFFT); this is the
// baseline it replaced.
func BenchmarkFFT256(b *testing.B) {
	const n = 256
	plan := fourier.NewFFT(n)
	seq := make([]float64, n)
	win := make([]float64, n)
	x := tsSine(1000, -15, 40)[:n]
	coef := make([]complex128, n/2+1)
	pow := make([]float64, n/2+1)
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range seq {
			seq[i] = x[i] * win[i]
		}
		plan.Coefficients(coef, seq)
		for k, c := range coef {
			pow[k] = real(c)*real(c) + imag(c)*imag(c)
		}
	}
}

// TestToneDetectorZeroAllocs proves the per-frame path allocates nothing, on
// every branch: silence, speech, a beep being confirmed and ended, SIT, V.21.
func TestToneDetectorZeroAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	frames := tsBenchFrames(tsConcat(
		tsSilence(200), tsSpeechLike(rng, 1000, -15), tsSine(1000, -15, 300), tsSilence(200),
		tsSIT(913.8, 1370.6, 1776.7, 274, 274, 380, -15), tsSilence(200), tsV21Flags(500, -15), tsSilence(200),
		tsCED(600, -15, false), tsSilence(300)))
	d := dsp.NewToneDetector()
	i := 0
	allocs := testing.AllocsPerRun(len(frames)*3, func() {
		d.Process(frames[i%len(frames)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %.2f times per frame, want 0", allocs)
	}
}

// TestTonePretestSelectivity measures what the pre-test lets through to the
// FFT: nearly every frame of a tone (even quiet, in noise, through G.711),
// and few frames of speech, music or noise.
func TestTonePretestSelectivity(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	noisy := func(x []float64, gen func(*rand.Rand, int) []float64, dbfs float64) []float64 {
		return tsAddNoise(x, gen(rng, len(x)), tsAmp(dbfs)/math.Sqrt2)
	}
	cases := []struct {
		name     string
		x        []float64
		min, max float64 // bounds on the share of frames passing
		ulaw     bool
	}{
		{"tone-300Hz-30dBFS-white15", noisy(tsSine(300, -30, 3000), tsWhite, -45), 0.95, 1, false},
		{"tone-1000Hz-18dBFS-pink15", noisy(tsSine(1000, -18, 3000), tsPink, -33), 0.95, 1, false},
		{"tone-2450Hz-18dBFS-brown15", noisy(tsSine(2450, -18, 3000), tsBrown, -33), 0.9, 1, false},
		{"tone-2100Hz-ulaw-30dBFS", tsSine(2100, -30, 3000), 0.95, 1, true},
		{"v21", tsV21Flags(3000, -15), 0.95, 1, false},
		{"speech-like", tsSpeechLike(rng, 20000, -15), 0, 0.1, false},
		{"music", tsMusic(rng, 10000, -15), 0, 0.35, false},
		{"white-noise", noisy(tsSilence(10000), tsWhite, -20), 0, 0.01, false},
		{"pink-noise", noisy(tsSilence(10000), tsPink, -20), 0, 0.01, false},
		{"brown-noise", noisy(tsSilence(10000), tsBrown, -20), 0, 0.05, false},
		{"silence", tsSilence(10000), 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pcm := tsToInt16(c.x)
			if c.ulaw {
				pcm = tsMulaw(pcm)
			}
			d := dsp.NewToneDetector()
			tsRun(d, pcm)
			st := d.Stats()
			share := float64(st.FFTFrames) / float64(st.Frames)
			t.Logf("%.1f%% of %d frames reached the FFT", 100*share, st.Frames)
			if share < c.min || share > c.max {
				t.Errorf("%.1f%% of frames passed the pre-test, want %.0f–%.0f%%", 100*share, 100*c.min, 100*c.max)
			}
		})
	}
}

// toneDetectorSink keeps BenchmarkNewToneDetector's detectors on the heap,
// where a call's detector lives (unused, one would stay on the stack).
var toneDetectorSink *dsp.ToneDetector

// BenchmarkNewToneDetector: what one call's detector costs to set up (B/op
// is its memory: buffers and the hop's transform space; the window and
// twiddle tables are shared, the veto's workspace is pooled).
func BenchmarkNewToneDetector(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		toneDetectorSink = dsp.NewToneDetector()
	}
}

// BenchmarkToneDetectorCorpus: the detector alone over the whole labelled
// corpus through G.711 μ-law (real speech, music, noise, tones), the mix the
// product's pipeline benchmark runs. One op is one 20 ms frame; fft_frac is
// the share of frames that reached the spectral stage.
func BenchmarkToneDetectorCorpus(b *testing.B) {
	clips, err := fixtures.Corpus()
	if errors.Is(err, fs.ErrNotExist) {
		b.Skip("no corpus")
	}
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]int16
	starts := map[int]bool{} // frame index at which a clip starts
	for _, c := range clips {
		a, err := audiofile.Load(fixtures.ClipPath(c))
		if err != nil {
			b.Fatalf("%s: %v", c.File, err)
		}
		starts[len(frames)] = true
		pcm := tsMulaw(a.Samples)
		for i := 0; i+dsp.FrameSamples <= len(pcm); i += dsp.FrameSamples {
			frames = append(frames, pcm[i:i+dsp.FrameSamples])
		}
	}
	d := dsp.NewToneDetector()
	var fft, all, ffts int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := tsCPUTime()
	for i := 0; b.Loop(); i++ {
		k := i % len(frames)
		if starts[k] {
			st := d.Stats()
			fft, all, ffts = fft+st.FFTFrames, all+st.Frames, ffts+st.FFTs
			d.Reset()
		}
		d.Process(frames[k])
	}
	st := d.Stats()
	fft, all, ffts = fft+st.FFTFrames, all+st.Frames, ffts+st.FFTs
	b.ReportMetric(float64(fft)/float64(max(1, all)), "fft_frac")
	b.ReportMetric(float64(ffts)/float64(max(1, all)), "ffts/frame")
	// CPU time (getrusage), so the team's concurrent builds do not skew it.
	b.ReportMetric(float64((tsCPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/frame")
}

// tsCPUTime is the process's user+system CPU time.
func tsCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
