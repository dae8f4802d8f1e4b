package dsp_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine/enginetest"
)

func segRun(pcm []int16) []dsp.SegmentFrame {
	v := dsp.NewVAD()
	s := dsp.NewSegmenter(dsp.SegmenterConfig{})
	out := make([]dsp.SegmentFrame, 0, len(pcm)/dsp.FrameSamples)
	for off := 0; off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
		out = append(out, s.Push(v.Process(pcm[off:off+dsp.FrameSamples]), false))
	}
	return out
}

// TestSegmenterWordCount: counted words track spoken words at a phone
// conversation's rate — one short word is not five, ten fluent words are
// not one — across voices, levels, noise and channels.
func TestSegmenterWordCount(t *testing.T) {
	t.Parallel()
	for _, words := range []int{1, 2, 4, 8, 14} {
		for i, vc := range vadCases {
			t.Run(fmt.Sprintf("%dwords_%s", words, vc.name()), func(t *testing.T) {
				t.Parallel()
				c := enginetest.New(uint64(1000*words+i), vc.f0)
				c.Silence(800).Say(words, vc.speechDB).Silence(1200)
				frames := segRun(applyChannel(t, vc.ch, c.Render(vc.noise, vc.noiseDB), uint64(i)))
				last := frames[len(frames)-1]
				t.Logf("%d words spoken in %d ms: counted %d, speech %d ms", words, c.Spans()[0][1]-c.Spans()[0][0], last.Words, last.SpeechMs)
				lo, hi := int(math.Ceil(float64(words)*0.5)), words*2+1
				if words == 1 {
					lo, hi = 1, 2
				}
				if last.Words < lo || last.Words > hi {
					t.Errorf("%d spoken words (%d ms) counted as %d, want %d..%d", words, c.Spans()[0][1]-c.Spans()[0][0], last.Words, lo, hi)
				}
				if last.Utterances != 1 {
					t.Errorf("one phrase gave %d utterances", last.Utterances)
				}
				span := c.Spans()[0]
				if d := last.FirstSpeechMs - span[0]; d < -40 || d > 120 {
					t.Errorf("first speech at %d ms, spoken at %d", last.FirstSpeechMs, span[0])
				}
				if d := last.UtteranceEndMs - span[1]; d < -150 || d > 100 {
					t.Errorf("utterance ends at %d ms, spoken until %d", last.UtteranceEndMs, span[1])
				}
				if last.InUtterance {
					t.Errorf("utterance still open after %d ms of silence", last.SilenceMs)
				}
			})
		}
	}
}

// TestSegmenterUtterances: the pause length decides whether speech resumes
// the same utterance; flags fire on exactly one frame each.
func TestSegmenterUtterances(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pauseMs        int
		wantUtterances int
	}{
		{300, 1}, {600, 1}, {1000, 2}, {2000, 2},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("pause%d", tc.pauseMs), func(t *testing.T) {
			t.Parallel()
			c := enginetest.New(uint64(tc.pauseMs), 180)
			c.Silence(500).Say(1, -20).Silence(tc.pauseMs).Say(1, -20).Silence(1500)
			frames := segRun(c.Render(enginetest.NoiseWhite, -55))
			starts, ends := 0, 0
			for i, f := range frames {
				if f.UtteranceStart {
					starts++
				}
				if f.UtteranceEnd {
					ends++
					if f.SilenceMs != dsp.DefaultUtteranceGapMs {
						t.Errorf("frame %d: utterance ended after %d ms of silence, want %d", i, f.SilenceMs, dsp.DefaultUtteranceGapMs)
					}
				}
			}
			last := frames[len(frames)-1]
			if starts != tc.wantUtterances || ends != tc.wantUtterances || last.Utterances != tc.wantUtterances {
				t.Errorf("starts %d ends %d utterances %d, want %d", starts, ends, last.Utterances, tc.wantUtterances)
			}
			if tc.wantUtterances == 1 {
				if p := last.UtterancePauseMs; p < int64(tc.pauseMs)-120 || p > int64(tc.pauseMs)+200 {
					t.Errorf("longest pause %d ms, paused %d", p, tc.pauseMs)
				}
			} else if last.PrevUtteranceEndMs < 0 {
				t.Errorf("PrevUtteranceEndMs not set")
			}
		})
	}
}

// TestSegmenterNoWordsWithoutSpeech: noise, hum and level steps never make
// a word, even where the VAD flickers.
func TestSegmenterNoWordsWithoutSpeech(t *testing.T) {
	t.Parallel()
	type gen func(rng *rand.Rand) []float64
	cases := map[string]gen{
		"white-35": func(r *rand.Rand) []float64 { return enginetest.MakeNoise(r, enginetest.NoiseWhite, 48000, -35) },
		"brown-25": func(r *rand.Rand) []float64 { return enginetest.MakeNoise(r, enginetest.NoiseBrown, 48000, -25) },
		"hum-25":   func(r *rand.Rand) []float64 { return enginetest.MakeNoise(r, enginetest.NoiseHum, 48000, -25) },
		"pink-steps": func(r *rand.Rand) []float64 {
			var x []float64
			for i, db := range []float64{-60, -45, -55, -40, -50} {
				_ = i
				x = append(x, enginetest.MakeNoise(r, enginetest.NoisePink, 12000, db)...)
			}
			return x
		},
		"white-steps": func(r *rand.Rand) []float64 {
			var x []float64
			for _, db := range []float64{-70, -50, -60, -42} {
				x = append(x, enginetest.MakeNoise(r, enginetest.NoiseWhite, 16000, db)...)
			}
			return x
		},
	}
	for name, g := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			x := g(rand.New(rand.NewPCG(3, 4)))
			pcm := make([]int16, len(x))
			for i, v := range x {
				pcm[i] = int16(math.Max(-32768, math.Min(32767, v*32767)))
			}
			for _, ch := range []channel{chPCM, chMulaw} {
				last := segRun(applyChannel(t, ch, pcm, 1))
				if w := last[len(last)-1]; w.Words != 0 || w.SpeechMs != 0 {
					t.Errorf("%s: %d words, %d ms speech in noise", ch, w.Words, w.SpeechMs)
				}
			}
		})
	}
	// Steady tones are not covered here: by energy alone a beep looks like
	// a flat TTS vowel, so the tone detector flags them (tonal) — see
	// TestSegmenterTonalFramesAreNotSpeech.
}

// TestSegmenterTonalFramesAreNotSpeech: frames flagged tonal never count.
func TestSegmenterTonalFramesAreNotSpeech(t *testing.T) {
	c := enginetest.New(2, 150)
	pcm := c.Silence(500).Say(6, -20).Silence(500).Render(enginetest.NoiseNone, 0)
	v := dsp.NewVAD()
	s := dsp.NewSegmenter(dsp.SegmenterConfig{})
	var f dsp.SegmentFrame
	for off := 0; off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
		f = s.Push(v.Process(pcm[off:off+dsp.FrameSamples]), true)
	}
	if f.Words != 0 || f.SpeechMs != 0 || f.FirstSpeechMs != -1 {
		t.Errorf("tonal frames counted: %+v", f)
	}
	if want := int64(len(pcm)/dsp.FrameSamples) * dsp.FrameMs; f.SilenceMs != want {
		t.Errorf("silence %d ms, want %d", f.SilenceMs, want)
	}
}

func TestSegmenterConfigDefaults(t *testing.T) {
	got := dsp.NewSegmenter(dsp.SegmenterConfig{MaxWordMs: 700}).Config()
	want := dsp.SegmenterConfig{MinWordMs: 100, WordGapMs: 60, MaxWordMs: 700, UtteranceGapMs: 800, ModulationDB: 6, ForegroundDB: 12}
	if got != want {
		t.Fatalf("config %+v, want %+v", got, want)
	}
}

func TestSegmenterZeroAllocs(t *testing.T) {
	s := dsp.NewSegmenter(dsp.SegmenterConfig{})
	i := 0
	if a := testing.AllocsPerRun(200, func() {
		i++
		s.Push(dsp.VADFrame{Speech: i%7 < 4, EnergyDB: float64(-30 - i%9)}, false)
	}); a != 0 {
		t.Fatalf("Push allocates %.0f times per frame", a)
	}
}

// FuzzSegmenter feeds arbitrary audio through VAD and segmenter and checks
// the invariants any input must keep.
func FuzzSegmenter(f *testing.F) {
	c := enginetest.New(1, 150)
	seed := c.Silence(200).Say(2, -20).Silence(300).Render(enginetest.NoiseWhite, -50)
	b := make([]byte, 2*len(seed))
	for i, s := range seed {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	f.Add(b)
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		v := dsp.NewVAD()
		s := dsp.NewSegmenter(dsp.SegmenterConfig{})
		var prev dsp.SegmentFrame
		for off, k := 0, 0; off < len(pcm); off, k = off+dsp.FrameSamples, k+1 {
			frame := pcm[off:min(off+dsp.FrameSamples, len(pcm))]
			vf := v.Process(frame)
			if math.IsNaN(vf.EnergyDB) || math.IsNaN(vf.NoiseFloorDB) || vf.EnergyDB < -100 || vf.EnergyDB > 10 {
				t.Fatalf("frame %d: bad VAD measurements %+v", k, vf)
			}
			sf := s.Push(vf, false)
			now := int64(k+1) * dsp.FrameMs
			if sf.Words < prev.Words || sf.SpeechMs < prev.SpeechMs || sf.Utterances < prev.Utterances {
				t.Fatalf("frame %d: counters went backwards: %+v after %+v", k, sf, prev)
			}
			if sf.SpeechMs > now || sf.SilenceMs > now || sf.UtteranceSpeechMs > sf.SpeechMs {
				t.Fatalf("frame %d (%d ms): impossible durations %+v", k, now, sf)
			}
			if sf.Speech && sf.SilenceMs != 0 {
				t.Fatalf("frame %d: speech with silence run %d", k, sf.SilenceMs)
			}
			if sf.Words > 0 && sf.Utterances == 0 {
				t.Fatalf("frame %d: words outside an utterance", k)
			}
			prev = sf
		}
	})
}

func BenchmarkSegmenterPush(b *testing.B) {
	c := enginetest.New(1, 140)
	pcm := c.Silence(500).Say(6, -20).Silence(500).Render(enginetest.NoisePink, -50)
	v := dsp.NewVAD()
	var vf []dsp.VADFrame
	for off := 0; off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
		vf = append(vf, v.Process(pcm[off:off+dsp.FrameSamples]))
	}
	s := dsp.NewSegmenter(dsp.SegmenterConfig{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Push(vf[i%len(vf)], false)
	}
	b.ReportMetric(float64(dsp.FrameMs)*1e6/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x_realtime")
}

// TestSegmenterForeground: after the callee has spoken, speech 25 dB
// quieter (a TV, distant talkers) is background and adds no words; with
// the gate opened wide the same audio does count, so the gate is what
// decides.
func TestSegmenterForeground(t *testing.T) {
	t.Parallel()
	c := enginetest.New(21, 160)
	pcm := c.Silence(500).Say(2, -15).Silence(1200).Say(5, -40).Silence(800).Render(enginetest.NoiseWhite, -65)
	count := func(cfg dsp.SegmenterConfig) dsp.SegmentFrame {
		v := dsp.NewVAD()
		s := dsp.NewSegmenter(cfg)
		var f dsp.SegmentFrame
		for off := 0; off+dsp.FrameSamples <= len(pcm); off += dsp.FrameSamples {
			f = s.Push(v.Process(pcm[off:off+dsp.FrameSamples]), false)
		}
		return f
	}
	gated := count(dsp.SegmenterConfig{})
	open := count(dsp.SegmenterConfig{ForegroundDB: 100})
	if gated.Utterances != 1 || gated.UtteranceEndMs > c.Spans()[0][1]+100 {
		t.Errorf("background made speech: %d utterances, last speech at %d ms (talker ended at %d)", gated.Utterances, gated.UtteranceEndMs, c.Spans()[0][1])
	}
	if open.Words <= gated.Words || open.Utterances != 2 {
		t.Errorf("without the gate the quiet phrase should count: %d words/%d utterances vs %d gated", open.Words, open.Utterances, gated.Words)
	}
}

// TestSegmenterBackgroundBeforeTalker: babble (three distant talkers, 25 dB
// below the callee) that starts before the callee and runs on after: the
// callee's words end when the callee stops, not when the babble does.
func TestSegmenterBackgroundBeforeTalker(t *testing.T) {
	t.Parallel()
	const n = 8000 * 5
	mix := make([]float64, n)
	for k := uint64(0); k < 3; k++ {
		b := enginetest.New(40+k, 110+40*float64(k))
		b.Silence(200 + 100*int(k))
		for b.Ms() < 5000 {
			b.Say(6, -45)
		}
		x := b.Render(enginetest.NoiseNone, 0)
		for i := 0; i < n; i++ {
			mix[i] += float64(x[i])
		}
	}
	talker := enginetest.New(50, 180)
	y := talker.Silence(900).Say(2, -18).Silence(4000).Render(enginetest.NoiseWhite, -70)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(max(-32768, min(32767, mix[i]+float64(y[i]))))
	}
	end := talker.Spans()[0][1]
	frames := segRun(pcm)
	var at dsp.SegmentFrame
	for i, f := range frames {
		if int64(i+1)*dsp.FrameMs == end+1500 {
			at = f
		}
	}
	if at.InUtterance || at.UtteranceEndMs > end+200 {
		t.Errorf("1.5 s after the talker stopped (at %d ms): in utterance %v, last speech %d ms, silence %d ms", end, at.InUtterance, at.UtteranceEndMs, at.SilenceMs)
	}
}
