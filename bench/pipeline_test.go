package bench

import (
	"testing"
	"time"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// pipelineClips loads the labelled corpus once as 8 kHz PCM, so every
// pipeline benchmark runs over the same mix of humans, machines, tones and
// silence that the accuracy test scores.
func pipelineClips(b *testing.B) [][]int16 {
	b.Helper()
	clips, err := fixtures.Corpus()
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]int16, 0, len(clips))
	for _, c := range clips {
		a, err := audiofile.Load(fixtures.ClipPath(c))
		if err != nil {
			b.Fatalf("%s: %v", c.File, err)
		}
		n := len(a.Samples) / dsp.FrameSamples * dsp.FrameSamples
		out = append(out, a.Samples[:n])
	}
	return out
}

// reportRealtime reports x_realtime: audio seconds the pipeline processed per
// CPU second spent since cpu0 (the loop runs on one goroutine, so on one core
// at a time), and the CPU cost of one 20 ms frame.
func reportRealtime(b *testing.B, frames int64, cpu0 time.Duration) {
	cpu := CPUTime() - cpu0
	audioS := float64(frames) * dsp.FrameMs / 1000
	if cpu > 0 {
		b.ReportMetric(audioS/cpu.Seconds(), "x_realtime")
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(frames, 1)), "cpu_ns/frame")
}

// BenchmarkPipeline is the whole per-call path for a G.711 μ-law call: RTP
// payload bytes → μ-law decode → VAD + segmentation + tone detection →
// detector, frame by frame as a call's owner goroutine runs it. A call stops
// being fed when its detector is done (as a live call stops), so x_realtime
// counts only the audio actually processed. One op is one pass over the corpus.
func BenchmarkPipeline(b *testing.B) {
	clips := pipelineClips(b)
	payloads := make([][]byte, len(clips))
	for i, c := range clips {
		payloads[i] = make([]byte, len(c))
		dsp.EncodeMulaw(payloads[i], c)
	}
	det, err := engine.NewDetector(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]int16, dsp.FrameSamples)
	var frames int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := CPUTime()
	for i := 0; i < b.N; i++ {
		for _, p := range payloads {
			det.Reset()
			for off := 0; off+dsp.FrameSamples <= len(p) && !det.Done(); off += dsp.FrameSamples {
				dsp.DecodeMulaw(frame, p[off:off+dsp.FrameSamples])
				det.Process(frame)
				frames++
			}
		}
	}
	b.StopTimer()
	reportRealtime(b, frames, cpu0)
}

// BenchmarkPipelineOpus is the same path for an Opus call: 20 ms Opus packets
// (16 kbit/s VoIP, encoded once up front) → decode to 8 kHz → detector.
func BenchmarkPipelineOpus(b *testing.B) {
	clips := pipelineClips(b)
	enc, err := dsp.NewOpusEncoder(16000)
	if err != nil {
		b.Fatal(err)
	}
	packets := make([][][]byte, len(clips))
	buf := make([]byte, 4000)
	for i, c := range clips {
		for off := 0; off+dsp.FrameSamples <= len(c); off += dsp.FrameSamples {
			n, err := enc.Encode(c[off:off+dsp.FrameSamples], buf)
			if err != nil {
				b.Fatal(err)
			}
			packets[i] = append(packets[i], append([]byte(nil), buf[:n]...))
		}
	}
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	det, err := engine.NewDetector(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	pcm := make([]int16, 6*dsp.FrameSamples)
	var frames int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := CPUTime()
	for i := 0; i < b.N; i++ {
		for _, ps := range packets {
			det.Reset()
			dec.Reset()
			for _, p := range ps {
				if det.Done() {
					break
				}
				n, err := dec.Decode(p, pcm)
				if err != nil || n != dsp.FrameSamples {
					b.Fatalf("decode: n=%d err=%v", n, err)
				}
				det.Process(pcm[:dsp.FrameSamples])
				frames++
			}
		}
	}
	b.StopTimer()
	reportRealtime(b, frames, cpu0)
}
