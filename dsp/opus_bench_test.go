package dsp

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/thesyncim/gopus"
)

// opusBenchStreams are the packet streams the decode benchmarks cycle
// through: what telephony sends (SILK narrowband), what a WebRTC leg sends
// (hybrid / CELT fullband), and a lossy case that exercises concealment.
var opusBenchStreams = []struct {
	name string
	cfg  opusEncCfg
	loss int // every loss-th packet is dropped; 0 = none
}{
	{"silk_nb_20ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 20000}, 0},
	{"silk_nb_60ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 60000}, 0},
	{"hybrid_fb_20ms", opusEncCfg{48000, 1, gopus.ApplicationVoIP, 32000, 20000}, 0},
	{"celt_fb_20ms", opusEncCfg{48000, 1, gopus.ApplicationAudio, 64000, 20000}, 0},
	{"celt_fb_stereo_20ms", opusEncCfg{48000, 2, gopus.ApplicationAudio, 96000, 20000}, 0},
	{"silk_nb_20ms_loss5pct", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 20000}, 20},
}

// benchOpusDecode runs one Decoder implementation over every bench stream,
// reporting allocations and x_realtime (seconds of audio decoded per second
// of CPU).
func benchOpusDecode(b *testing.B, newDec func() (Decoder, error)) {
	for _, s := range opusBenchStreams {
		b.Run(s.name, func(b *testing.B) {
			x := opusSpeechLike(s.cfg.fs, 2, 21)
			if s.cfg.channels == 2 {
				y := opusSpeechLike(s.cfg.fs, 2, 22)
				st := make([]int16, 2*len(x))
				for i := range x {
					st[2*i], st[2*i+1] = x[i], y[i]
				}
				x = st
			}
			pkts := opusGopusStream(b, s.cfg, x)
			if s.loss > 0 {
				for i := s.loss / 2; i < len(pkts); i += s.loss {
					pkts[i] = nil
				}
			}
			d, err := newDec()
			if err != nil {
				b.Fatal(err)
			}
			pcm := make([]int16, OpusMaxPacketSamples)
			samples := 0
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				n, err := d.Decode(pkts[i], pcm)
				if err != nil {
					b.Fatal(err)
				}
				samples += n
				if i++; i == len(pkts) {
					i = 0
				}
			}
			audio := float64(samples) / SampleRate
			b.ReportMetric(audio/b.Elapsed().Seconds(), "x_realtime")
			b.ReportMetric(b.Elapsed().Seconds()/audio*float64(FrameSamples)/SampleRate*1e6, "µs/20ms")
		})
	}
}

// BenchmarkOpusDecode measures the pure-Go (gopus) decoder at 8 kHz.
func BenchmarkOpusDecode(b *testing.B) { benchOpusDecode(b, NewOpusDecoder) }

// BenchmarkOpusConceal measures one 20 ms concealment after speech.
func BenchmarkOpusConceal(b *testing.B) {
	d, err := NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	pkts := opusEncodeStream(b, 16000, opusSpeechLike(SampleRate, 1, 4))
	pcm := make([]int16, OpusMaxPacketSamples)
	for _, p := range pkts[:30] {
		if _, err := d.Decode(p, pcm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Conceal(pcm, FrameSamples); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*FrameMs/1000/b.Elapsed().Seconds(), "x_realtime")
}

// BenchmarkOpusEncode measures the 20 ms narrowband VoIP encoder the fixture
// generator and the SIP test phone use, at the default complexity and at
// the low complexity a load generator would pick.
func BenchmarkOpusEncode(b *testing.B) {
	for _, complexity := range []int{10, 5, 1} {
		b.Run(fmt.Sprintf("complexity%d", complexity), func(b *testing.B) {
			enc, err := NewOpusEncoder(16000)
			if err != nil {
				b.Fatal(err)
			}
			if err := enc.SetComplexity(complexity); err != nil {
				b.Fatal(err)
			}
			x := opusSpeechLike(SampleRate, 2, 5)
			out := make([]byte, OpusMaxPacketBytes)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.Encode(x[i:i+FrameSamples], out); err != nil {
					b.Fatal(err)
				}
				if i += FrameSamples; i+FrameSamples > len(x) {
					i = 0
				}
			}
			b.ReportMetric(float64(b.N)*FrameMs/1000/b.Elapsed().Seconds(), "x_realtime")
		})
	}
}

// opusCountAllocs returns the total heap allocations of n calls of f,
// after n uncounted calls: gopus grows internal scratch buffers the first
// time a situation needs them (a first concealment, a first transient), a
// once-per-stream cost; the steady state is what the media path lives in.
// testing.AllocsPerRun divides by n and rounds down, which would hide an
// allocation made on one packet in twenty; the media path needs the total.
func opusCountAllocs(n int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for range n {
		f()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// TestOpusZeroAllocs holds the per-packet decode path of every mode and the
// encoder to zero allocations once constructed, so a call's owner goroutine
// never feeds the garbage collector from the media path. Some allocations
// live inside gopus v0.1.0 and are bounded here rather than hidden: FEC
// recovery (about 3 per rebuilt packet), SILK concealment
// (internal/plc.ConcealSILKWithLTP makes 3–4 scratch slices, ~2.3 KB, per
// concealed packet) and CELT stereo-to-mono downmix of a silence frame
// (internal/celt.decodeStereoPacketToMono makes 1).
func TestOpusZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count needs full runs")
	}
	const packets = 200
	cases := []struct {
		name      string
		cfg       opusEncCfg
		conceal   bool   // decode nil packets only
		maxAllocs uint64 // over `packets` packets
	}{
		{"silk_nb_20ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 20000}, false, 0},
		{"silk_nb_60ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 60000}, false, 0},
		{"silk_wb_20ms", opusEncCfg{16000, 1, gopus.ApplicationVoIP, 24000, 20000}, false, 0},
		{"hybrid_fb_20ms", opusEncCfg{48000, 1, gopus.ApplicationVoIP, 32000, 20000}, false, 0},
		{"celt_fb_20ms", opusEncCfg{48000, 1, gopus.ApplicationAudio, 64000, 20000}, false, 0},
		{"celt_fb_stereo_20ms", opusEncCfg{48000, 2, gopus.ApplicationAudio, 96000, 20000}, false, packets},
		{"celt_conceal", opusEncCfg{48000, 1, gopus.ApplicationAudio, 64000, 20000}, true, 0},
		{"silk_conceal", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 20000}, true, 4 * packets},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := opusSpeechLike(tc.cfg.fs, 1, 21)
			if tc.cfg.channels == 2 {
				st := make([]int16, 2*len(x))
				for i := range x {
					st[2*i], st[2*i+1] = x[i], x[len(x)-1-i]
				}
				x = st
			}
			pkts := opusGopusStream(t, tc.cfg, x)
			d := newOpusDecoderT(t)
			pcm := make([]int16, OpusMaxPacketSamples)
			// Warm up: internal state may size itself on first use.
			for _, p := range pkts {
				if _, err := d.Decode(p, pcm); err != nil {
					t.Fatal(err)
				}
			}
			i := 0
			allocs := opusCountAllocs(packets, func() {
				var p []byte
				if !tc.conceal {
					p = pkts[i%len(pkts)]
				} else if i%8 == 0 {
					p = pkts[i%len(pkts)] // refresh so concealment keeps concealing speech
				}
				if _, err := d.Decode(p, pcm); err != nil {
					t.Fatal(err)
				}
				i++
			})
			if allocs > tc.maxAllocs {
				t.Errorf("%d allocations over %d packets, want ≤ %d", allocs, packets, tc.maxAllocs)
			}
			t.Logf("%d allocations over %d packets", allocs, packets)
		})
	}
	t.Run("fec", func(t *testing.T) {
		pkts := opusFECStream(t, 24000, 20, opusSpeechLike(SampleRate, 1, 33))
		d := newOpusDecoderT(t).(FECDecoder)
		pcm := make([]int16, OpusMaxPacketSamples)
		i := 0
		allocs := opusCountAllocs(packets, func() {
			var err error
			if j := i % len(pkts); j%5 == 2 && j+1 < len(pkts) {
				_, err = d.DecodeFEC(pkts[j+1], pcm, FrameSamples)
			} else {
				_, err = d.Decode(pkts[j], pcm)
			}
			if err != nil {
				t.Fatal(err)
			}
			i++
		})
		// gopus's FEC path allocates (silk NSQ state clone, LBRR decode
		// buffers, packet parse): about 3 per rebuilt packet, none per
		// ordinary packet.
		t.Logf("%d allocations over %d packets (1 in 5 rebuilt from FEC)", allocs, packets)
		if limit := uint64(4 * packets / 5); allocs > limit {
			t.Errorf("%d allocations over %d packets, want ≤ %d", allocs, packets, limit)
		}
	})
	t.Run("encode", func(t *testing.T) {
		enc, err := NewOpusEncoder(16000)
		if err != nil {
			t.Fatal(err)
		}
		x := opusSpeechLike(SampleRate, 1, 5)
		out := make([]byte, OpusMaxPacketBytes)
		i := 0
		allocs := opusCountAllocs(packets, func() {
			if _, err := enc.Encode(x[i:i+FrameSamples], out); err != nil {
				t.Fatal(err)
			}
			if i += FrameSamples; i+FrameSamples > len(x) {
				i = 0
			}
		})
		if allocs != 0 {
			t.Errorf("%d allocations over %d encoded frames, want 0", allocs, packets)
		}
	})
}
