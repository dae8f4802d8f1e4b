package bench

// Per-stage benchmarks: each stage of the per-call media path on its own,
// over the labelled corpus (the same mix of humans, machines, tones and
// silence the pipeline benchmark and the accuracy test use). One op is one
// 20 ms frame, so ns/op is a stage's cost per frame and x_realtime (audio
// seconds per CPU second, from CPUTime) says how many calls' worth of that
// stage one core could run. Every stage must allocate nothing per frame.

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
)

// stageCorpus is the corpus cut into frames once for all stage benchmarks.
type stageCorpus struct {
	frames [][]int16 // every 20 ms frame of every clip, in order
	starts []bool    // frames[i] is the first frame of a clip
	ulaw   [][]byte
	alaw   [][]byte
	opus   [][]byte // 16 kbit/s VoIP packets, as BenchmarkPipelineOpus
}

var (
	corpusOnce sync.Once
	corpus     stageCorpus
	corpusErr  error
)

func loadStageCorpus(b *testing.B) *stageCorpus {
	b.Helper()
	corpusOnce.Do(func() {
		clips := pipelineClips(b)
		enc, err := dsp.NewOpusEncoder(16000)
		if err != nil {
			corpusErr = err
			return
		}
		buf := make([]byte, dsp.OpusMaxPacketBytes)
		for _, c := range clips {
			enc.Reset()
			for off := 0; off+dsp.FrameSamples <= len(c); off += dsp.FrameSamples {
				f := c[off : off+dsp.FrameSamples]
				corpus.frames = append(corpus.frames, f)
				corpus.starts = append(corpus.starts, off == 0)
				u := make([]byte, dsp.FrameSamples)
				dsp.EncodeMulaw(u, f)
				a := make([]byte, dsp.FrameSamples)
				dsp.EncodeAlaw(a, f)
				n, err := enc.Encode(f, buf)
				if err != nil {
					corpusErr = err
					return
				}
				corpus.ulaw = append(corpus.ulaw, u)
				corpus.alaw = append(corpus.alaw, a)
				corpus.opus = append(corpus.opus, append([]byte(nil), buf[:n]...))
			}
		}
	})
	if corpusErr != nil {
		b.Fatal(corpusErr)
	}
	return &corpus
}

// runFrames times fn over b.N frames (cycling through the corpus) and
// reports allocations and x_realtime.
func runFrames(b *testing.B, n int, fn func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := CPUTime()
	for i := 0; i < b.N; i++ {
		fn(i % n)
	}
	b.StopTimer()
	reportRealtime(b, int64(b.N), cpu0)
}

func BenchmarkStageG711Decode(b *testing.B) {
	c := loadStageCorpus(b)
	pcm := make([]int16, dsp.FrameSamples)
	b.Run("ulaw", func(b *testing.B) {
		runFrames(b, len(c.ulaw), func(i int) { dsp.DecodeMulaw(pcm, c.ulaw[i]) })
	})
	b.Run("alaw", func(b *testing.B) {
		runFrames(b, len(c.alaw), func(i int) { dsp.DecodeAlaw(pcm, c.alaw[i]) })
	})
}

// BenchmarkStageOpusDecode: one 20 ms packet to 8 kHz PCM (pure-Go gopus
// behind dsp.Decoder), a fresh stream at every clip.
func BenchmarkStageOpusDecode(b *testing.B) {
	c := loadStageCorpus(b)
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, dsp.OpusMaxPacketSamples)
	runFrames(b, len(c.opus), func(i int) {
		if c.starts[i] {
			dec.Reset()
		}
		if n, err := dec.Decode(c.opus[i], pcm); err != nil || n != dsp.FrameSamples {
			b.Fatalf("decode frame %d: n=%d err=%v", i, n, err)
		}
	})
}

func BenchmarkStageVAD(b *testing.B) {
	c := loadStageCorpus(b)
	v := dsp.NewVAD()
	speech := 0
	runFrames(b, len(c.frames), func(i int) {
		if c.starts[i] {
			v.Reset()
		}
		if v.Process(c.frames[i]).Speech {
			speech++
		}
	})
	b.ReportMetric(float64(speech)/float64(b.N), "speech_frac")
}

// BenchmarkStageSegment: word/utterance segmentation of precomputed VAD
// frames (the segmenter's own cost, without the VAD's).
func BenchmarkStageSegment(b *testing.B) {
	c := loadStageCorpus(b)
	v := dsp.NewVAD()
	vf := make([]dsp.VADFrame, len(c.frames))
	for i, f := range c.frames {
		if c.starts[i] {
			v.Reset()
		}
		vf[i] = v.Process(f)
	}
	s := dsp.NewSegmenter(dsp.SegmenterConfig{})
	runFrames(b, len(vf), func(i int) {
		if c.starts[i] {
			s.Reset()
		}
		s.Push(vf[i], false)
	})
}

// BenchmarkStageTone is the tone detector (pre-test, then the FFT only on
// frames that could hold a tone). fft_frac is the share of frames that
// reached the FFT; slope_frac the share the pre-test looked at a second
// time, through the frame's first difference (low-frequency noise).
func BenchmarkStageTone(b *testing.B) {
	c := loadStageCorpus(b)
	b.Run("all", func(b *testing.B) {
		t := dsp.NewToneDetector()
		var st dsp.ToneStats
		add := func(s dsp.ToneStats) {
			st.Frames, st.FFTFrames, st.SlopeLooks = st.Frames+s.Frames, st.FFTFrames+s.FFTFrames, st.SlopeLooks+s.SlopeLooks
		}
		runFrames(b, len(c.frames), func(i int) {
			if c.starts[i] {
				add(t.Stats())
				t.Reset()
			}
			t.Process(c.frames[i])
		})
		add(t.Stats())
		frames := float64(max(st.Frames, 1))
		b.ReportMetric(float64(st.FFTFrames)/frames, "fft_frac")
		b.ReportMetric(float64(st.SlopeLooks)/frames, "slope_frac")
	})
	// split times every frame and files it under "pre-test only" or "went
	// to the FFT" by the detector's own counter: the cost of the two paths
	// on real audio. Each timing adds the clock's own cost (~40 ns on this
	// machine) to both figures.
	b.Run("split", func(b *testing.B) {
		t := dsp.NewToneDetector()
		var preNs, fftNs, preN, fftN int64
		runFrames(b, len(c.frames), func(i int) {
			if c.starts[i] {
				t.Reset()
			}
			before := t.Stats().FFTFrames
			t0 := time.Now()
			t.Process(c.frames[i])
			d := time.Since(t0).Nanoseconds()
			if t.Stats().FFTFrames != before {
				fftNs, fftN = fftNs+d, fftN+1
			} else {
				preNs, preN = preNs+d, preN+1
			}
		})
		b.ReportMetric(float64(preNs)/float64(max(preN, 1)), "pretest_ns/frame")
		b.ReportMetric(float64(fftNs)/float64(max(fftN, 1)), "fft_ns/frame")
		b.ReportMetric(float64(fftNs)/float64(max(preNs+fftNs, 1)), "fft_time_frac")
	})
}

// BenchmarkStageDetector is engine.Detector.Process on decoded PCM: VAD,
// segmentation, tone detection and the rules, without the codec. As on a
// live call, a clip stops being fed once its detector is done.
func BenchmarkStageDetector(b *testing.B) {
	c := loadStageCorpus(b)
	det, err := engine.NewDetector(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var fed int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := CPUTime()
	for i := 0; i < b.N; i++ {
		k := i % len(c.frames)
		if c.starts[k] {
			det.Reset()
		}
		if det.Done() {
			continue
		}
		det.Process(c.frames[k])
		fed++
	}
	b.StopTimer()
	reportRealtime(b, fed, cpu0)
}

// BenchmarkDetectorMemory is what one call's detector holds on the heap
// (buffers and history; FFT tables are shared and the dual-tone veto's
// workspace is pooled), the engine's share of the ≤ 64 KiB per call
// budget; the rest of a call is its goroutine stack, socket and buffers.
func BenchmarkDetectorMemory(b *testing.B) {
	const n = 200
	dets := make([]*engine.Detector, n)
	b.ReportAllocs()
	var total uint64
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range dets {
			d, err := engine.NewDetector(engine.Config{})
			if err != nil {
				b.Fatal(err)
			}
			dets[i] = d
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		total += m1.HeapAlloc - min(m0.HeapAlloc, m1.HeapAlloc)
		clear(dets)
	}
	b.ReportMetric(float64(total)/float64(b.N)/n/1024, "KiB/detector")
}
