//go:build libopus

package dsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thesyncim/gopus"
	"gopkg.in/hraban/opus.v2"

	"github.com/amd-engine/amd/dsp/internal/libopusinfo"
)

// opusMinDifferentialSNR is the acceptance point: the pure-Go decoder must
// track libopus to at least 60 dB on every stream.
const opusMinDifferentialSNR = 60.0

// opusSNR is 10·log10(Σref² / Σ(ref−got)²); +Inf when bit-exact.
func opusSNR(ref, got []int16) float64 {
	var sig, noise float64
	for i := range ref {
		r := float64(ref[i])
		d := r - float64(got[i])
		sig += r * r
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// opusLibopusStream encodes x with libopus (hraban) with the same settings
// opusGopusStream uses, so the decoders see packets from both encoders.
func opusLibopusStream(t testing.TB, cfg opusEncCfg, x []int16) [][]byte {
	t.Helper()
	app := opus.AppVoIP
	switch cfg.app {
	case gopus.ApplicationAudio:
		app = opus.AppAudio
	case gopus.ApplicationRestrictedCelt, gopus.ApplicationLowDelay:
		app = opus.AppRestrictedLowdelay
	}
	enc, err := opus.NewEncoder(cfg.fs, cfg.channels, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(cfg.bitrate); err != nil {
		t.Fatal(err)
	}
	step := cfg.fs * cfg.frameUs / 1000000 * cfg.channels
	var pkts [][]byte
	buf := make([]byte, 4000)
	for i := 0; i+step <= len(x); i += step {
		n, err := enc.Encode(x[i:i+step], buf)
		if err != nil {
			t.Fatalf("libopus encode at %d: %v", i, err)
		}
		pkts = append(pkts, append([]byte(nil), buf[:n]...))
	}
	return pkts
}

// opusTTS renders text with espeak-ng and resamples it with sox to fs,
// returning nil when either tool is missing.
func opusTTS(t testing.TB, dir, text string, fs int) []int16 {
	t.Helper()
	espeak, err1 := exec.LookPath("espeak-ng")
	sox, err2 := exec.LookPath("sox")
	if err1 != nil || err2 != nil {
		return nil
	}
	wav := filepath.Join(dir, fmt.Sprintf("tts_%d.wav", fs))
	raw := filepath.Join(dir, fmt.Sprintf("tts_%d.raw", fs))
	if out, err := exec.Command(espeak, "-w", wav, "-s", "150", text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	// -R -D: no random dither, so every run feeds the codecs the same input.
	if out, err := exec.Command(sox, "-R", "-D", wav, "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1",
		"-r", fmt.Sprint(fs), "--endian", "little", raw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]int16, len(b)/2)
	for i := range x {
		x[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return x
}

// opusModeName names a TOC configuration's coding mode and bandwidth.
func opusModeName(toc byte) string {
	c := toc >> 3
	switch {
	case c < 12:
		return [...]string{"silk-nb", "silk-mb", "silk-wb"}[c/4]
	case c < 16:
		return [...]string{"hybrid-swb", "hybrid-fb"}[(c-12)/2]
	default:
		return [...]string{"celt-nb", "celt-wb", "celt-swb", "celt-fb"}[(c-16)/4]
	}
}

// TestOpusDifferentialLibopus decodes identical packet streams — from the
// gopus and the libopus encoders, over telephony SILK, wideband SILK,
// hybrid and CELT at 2.5–60 ms, clean and with 3 % loss — with the pure-Go
// decoder and with libopus, and requires ≥ 60 dB SNR between the outputs.
func TestOpusDifferentialLibopus(t *testing.T) {
	if testing.Short() {
		t.Skip("differential sweep is long")
	}
	deadline := time.Now().Add(8 * time.Minute) // inside make libopus's 10 m -timeout, with room for -race on a loaded machine
	plcComparable, why := opusLibopusPLCComparable()
	if plcComparable {
		t.Logf("%s conceals as gopus does: lossy streams are held to ≥ %.0f dB whole", opus.Version(), opusMinDifferentialSNR)
	} else {
		t.Logf("%s: lossy streams are held to ≥ %.0f dB outside loss recovery only (%s); "+
			"whole-stream SNR and resync times are reported", opus.Version(), opusMinDifferentialSNR, why)
	}
	knownSeen := map[string]bool{}
	signals := map[string]func(fs int) []int16{
		"mixed":  func(fs int) []int16 { return opusMixed(fs, 42) },
		"speech": func(fs int) []int16 { return opusSpeechLike(fs, 3, 77) },
	}
	ttsDir := t.TempDir()
	var ttsMu sync.Mutex
	ttsCache := map[int][]int16{}
	tts := func(fs int) []int16 {
		ttsMu.Lock()
		defer ttsMu.Unlock()
		if x, ok := ttsCache[fs]; ok {
			return x
		}
		x := opusTTS(t, ttsDir, "Hello, you have reached the voicemail of John Smith. "+
			"Please leave a message after the tone, and I will call you back.", fs)
		ttsCache[fs] = x
		return x
	}
	if tts(SampleRate) != nil {
		signals["tts"] = tts
	} else {
		t.Log("espeak-ng or sox absent: TTS speech streams skipped")
	}

	configs := []struct {
		name string
		cfg  opusEncCfg
	}{
		{"silk_nb_8k_10ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 12000, 10000}},
		{"silk_nb_8k_20ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 12000, 20000}},
		{"silk_nb_16k_20ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 16000, 20000}},
		{"silk_nb_8k_40ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 8000, 40000}},
		{"silk_nb_12k_60ms", opusEncCfg{8000, 1, gopus.ApplicationVoIP, 12000, 60000}},
		{"silk_wb_20k_20ms", opusEncCfg{16000, 1, gopus.ApplicationVoIP, 20000, 20000}},
		{"hybrid_28k_20ms", opusEncCfg{48000, 1, gopus.ApplicationVoIP, 28000, 20000}},
		{"hybrid_32k_10ms", opusEncCfg{48000, 1, gopus.ApplicationVoIP, 32000, 10000}},
		{"celt_fb_64k_20ms", opusEncCfg{48000, 1, gopus.ApplicationAudio, 64000, 20000}},
		{"celt_fb_96k_40ms", opusEncCfg{48000, 1, gopus.ApplicationAudio, 96000, 40000}},
		{"celt_fb_64k_60ms", opusEncCfg{48000, 1, gopus.ApplicationAudio, 64000, 60000}},
		{"celt_ld_48k_5ms", opusEncCfg{48000, 1, gopus.ApplicationRestrictedCelt, 48000, 5000}},
		{"celt_ld_64k_10ms", opusEncCfg{48000, 1, gopus.ApplicationRestrictedCelt, 64000, 10000}},
	}
	encoders := []struct {
		name string
		enc  func(testing.TB, opusEncCfg, []int16) [][]byte
	}{
		{"gopus", opusGopusStream},
		{"libopus", opusLibopusStream},
	}

	type result struct {
		name  string
		st    opusDiffStats
		modes string
		lossy bool
	}
	var mu sync.Mutex
	var results []result
	modesSeen := map[string]bool{}

	sigNames := make([]string, 0, len(signals))
	for k := range signals {
		sigNames = append(sigNames, k)
	}
	sort.Strings(sigNames)
	for _, sig := range sigNames {
		for _, c := range configs {
			x := signals[sig](c.cfg.fs)
			for _, e := range encoders {
				pkts := e.enc(t, c.cfg, x)
				for _, loss := range []float64{0, 0.03} {
					name := fmt.Sprintf("%s/%s/%s/loss%.0f%%", sig, c.name, e.name, loss*100)
					t.Run(name, func(t *testing.T) {
						if time.Now().After(deadline) {
							t.Fatal("differential sweep exceeded its time budget")
						}
						stream := make([][]byte, len(pkts))
						copy(stream, pkts)
						rng := rand.New(rand.NewPCG(uint64(len(name)), 97))
						lost := 0
						for i := 1; i < len(stream); i++ {
							if loss > 0 && rng.Float64() < loss {
								stream[i] = nil
								lost++
							}
						}
						if loss > 0 && lost == 0 {
							stream[len(stream)/2] = nil // guarantee at least one loss
						}
						modes := map[string]bool{}
						for _, p := range stream {
							if p != nil {
								modes[opusModeName(p[0])] = true
							}
						}
						st := opusCompareDecoders(t, stream)
						var ms []string
						for m := range modes {
							ms = append(ms, m)
						}
						sort.Strings(ms)
						mu.Lock()
						results = append(results, result{name, st, strings.Join(ms, "+"), loss > 0})
						for m := range modes {
							modesSeen[m] = true
						}
						mu.Unlock()
						switch {
						case loss > 0 && plcComparable && opusKnownGopusDivergence[name] != "":
							// Held to what the diagnosis says: apart, but only
							// in the concealment it names.
							mu.Lock()
							knownSeen[name] = st.whole < opusMinDifferentialSNR
							mu.Unlock()
							if st.steady < opusMinDifferentialSNR {
								t.Errorf("SNR %.1f dB outside loss recovery, want ≥ %.0f dB even with the known divergence (modes %v)",
									st.steady, opusMinDifferentialSNR, ms)
							}
						case loss == 0 || plcComparable:
							if st.whole < opusMinDifferentialSNR {
								t.Errorf("SNR %.1f dB between gopus and libopus, want ≥ %.0f dB (modes %v)", st.whole, opusMinDifferentialSNR, ms)
							}
						default:
							// Concealment is a different algorithm in the
							// reference we have (see plcComparable), and after
							// a loss the two decoders' predictor states differ
							// until the signal lets them reconverge (CELT within
							// ~0.3 s; SILK in continuous speech can stay ~55 dB
							// apart for seconds). Loss parity is judged against
							// the pinned release by TestOpusLossParityLibopus161;
							// here hold the decoders to agreeing wherever both
							// have reconverged, and report the rest.
							if st.steady < opusMinDifferentialSNR {
								t.Errorf("SNR %.1f dB outside loss recovery, want ≥ %.0f dB (modes %v)", st.steady, opusMinDifferentialSNR, ms)
							}
						}
					})
				}
			}
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].name < results[j].name })
	minClean, minLossy, minSteady, maxResync := math.Inf(1), math.Inf(1), math.Inf(1), 0
	for _, r := range results {
		if !r.lossy {
			t.Logf("%-46s %-30s SNR %s", r.name, r.modes, opusFmtSNR(r.st.whole))
			minClean = math.Min(minClean, r.st.whole)
			continue
		}
		t.Logf("%-46s %-30s SNR %s (concealed packets %s, outside recovery %s, resync ≤ %d ms)",
			r.name, r.modes, opusFmtSNR(r.st.whole), opusFmtSNR(r.st.plc), opusFmtSNR(r.st.steady), r.st.maxResyncMs)
		minLossy = math.Min(minLossy, r.st.whole)
		minSteady = math.Min(minSteady, r.st.steady)
		maxResync = max(maxResync, r.st.maxResyncMs)
	}
	t.Logf("%s; %d streams: clean min SNR %s; 3%% loss min SNR %s, outside recovery %s, worst resync %d ms",
		opus.Version(), len(results), opusFmtSNR(minClean), opusFmtSNR(minLossy), opusFmtSNR(minSteady), maxResync)
	for name, apart := range knownSeen {
		if apart {
			t.Logf("%s: known gopus divergence, not a pass: %s", name, opusKnownGopusDivergence[name])
		} else {
			t.Errorf("%s now agrees ≥ %.0f dB: gopus no longer diverges there, drop it from opusKnownGopusDivergence",
				name, opusMinDifferentialSNR)
		}
	}
	// The sweep is only meaningful if it really exercised every coding mode.
	for _, m := range []string{"silk-nb", "silk-wb", "celt-fb"} {
		if !modesSeen[m] {
			t.Errorf("no %s packets in the sweep", m)
		}
	}
	if !modesSeen["hybrid-swb"] && !modesSeen["hybrid-fb"] {
		t.Error("no hybrid packets in the sweep")
	}
}

// opusKnownGopusDivergence lists the lossy streams on which gopus (v0.1.0)
// is known to part from libopus 1.6.1, with the diagnosis. Each stays under
// test: outside its loss recovery it must still agree ≥ 60 dB, and the sweep
// fails once it agrees whole, so a fixed gopus removes the entry.
var opusKnownGopusDivergence = map[string]string{
	"tts/silk_nb_8k_20ms/gopus/loss3%": opusGopusLTPScaleBug,
	"tts/hybrid_28k_20ms/gopus/loss3%": opusGopusLTPScaleBug,
}

// opusGopusLTPScaleBug: in both streams packet 275 is voiced SILK (NB; WB
// inside hybrid) whose strongest subframe has an LTP tap sum of 256 (Q14).
// silk_PLC_update scales such a weak tap up to 0.7 with
// silk_SMULBB(tap, scale_Q10), which keeps only the low 16 bits of
// scale_Q10 = 45876, so the C reference conceals packet 276 with a pitch tap
// of −0.30; gopus (plc.SILKPLCState.UpdateFromGoodFrame multiplies in 32
// bits) uses +0.70. Packet 276 agrees to 1 dB, the streams to 52 and 56 dB.
const opusGopusLTPScaleBug = "gopus misses silk_PLC_update's 16-bit truncation of scale_Q10 " +
	"after a voiced frame with a tiny LTP gain (packet 276's concealment)"

// opusLibopusPLCComparable reports whether the linked libopus conceals
// losses with the algorithm gopus implements, and if not why: gopus ports
// libopus 1.6.1 in its default configuration (TestOpusLossParityLibopus161
// holds it to that release's lossy outputs). libopus 1.5 reworked CELT
// concealment (PLC energy decay, the fold of the concealed tail into the next
// frame's overlap), so with an older library concealed audio — and the
// frames right after it — legitimately differ; 1.5.x is not verified here, so
// only 1.6 and later qualify. A build with the neural decoder code compiled
// in (Debian's) does not either: see libopusinfo.NeuralBuild.
func opusLibopusPLCComparable() (bool, string) {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(opus.Version(), "libopus "), "%d.%d", &major, &minor); err != nil {
		return false, fmt.Sprintf("cannot parse the version %q", opus.Version())
	}
	if major == 1 && minor < 6 {
		return false, "it predates the concealment gopus implements (libopus 1.6)"
	}
	if libopusinfo.NeuralBuild() {
		return false, fmt.Sprintf("built with deep PLC/OSCE (%d-byte decoder), which skips SILK's 16 kHz recovery ramp",
			libopusinfo.DecoderStateBytes())
	}
	return true, ""
}

// TestLibopusVersion says which libopus the twin runs, and when make libopus
// prepared a pinned release (AMD_LIBOPUS_WANT) fails unless that release
// loaded and the strict lossy check is on: a stale cache or a wrong rpath
// must not pass as the reference.
func TestLibopusVersion(t *testing.T) {
	strict, why := opusLibopusPLCComparable()
	t.Logf("%s, %d-byte decoder, strict lossy check %v %s", opus.Version(), libopusinfo.DecoderStateBytes(), strict, why)
	want := os.Getenv("AMD_LIBOPUS_WANT")
	if want == "" {
		return
	}
	if got := opus.Version(); got != "libopus "+want {
		t.Fatalf("make libopus prepared libopus %s, but %q is linked", want, got)
	}
	if !strict {
		t.Fatalf("libopus %s was prepared for the strict lossy check, which is off: %s", want, why)
	}
}

// opusDiffStats compares gopus with libopus on one stream.
type opusDiffStats struct {
	whole       float64 // SNR over the whole stream
	plc         float64 // SNR over the concealed packets only
	steady      float64 // SNR outside the recovery after each loss
	maxResyncMs int     // worst time from a loss until a packet agrees ≥ 60 dB again
}

// opusCompareDecoders decodes stream (nil = lost) with both decoders and
// measures their agreement. After a loss, packets count as "recovering"
// until the first packet that agrees to ≥ 60 dB again (or is silent in the
// reference, where SNR means nothing); everything else is "steady".
func opusCompareDecoders(t *testing.T, stream [][]byte) opusDiffStats {
	t.Helper()
	lib, err := NewLibopusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	gd := newOpusDecoderT(t)
	pa, pb := make([]int16, OpusMaxPacketSamples), make([]int16, OpusMaxPacketSamples)
	var all, plc, steady [2][]int16 // [0] libopus, [1] gopus
	recovering, lossAt, maxResync, pos := false, 0, 0, 0
	for i, p := range stream {
		na, err := gd.Decode(p, pa)
		if err != nil {
			t.Fatalf("gopus packet %d: %v", i, err)
		}
		nb, err := lib.Decode(p, pb)
		if err != nil {
			t.Fatalf("libopus packet %d: %v", i, err)
		}
		if na != nb {
			t.Fatalf("packet %d: gopus %d samples, libopus %d", i, na, nb)
		}
		ref, got := pb[:nb], pa[:na]
		all[0], all[1] = append(all[0], ref...), append(all[1], got...)
		switch {
		case p == nil:
			plc[0], plc[1] = append(plc[0], ref...), append(plc[1], got...)
			if !recovering {
				recovering, lossAt = true, pos
			}
		case recovering && (opusSNR(ref, got) >= opusMinDifferentialSNR || opusRMS(ref) < 3):
			recovering = false
			maxResync = max(maxResync, (pos-lossAt)*1000/SampleRate)
			fallthrough
		case !recovering:
			steady[0], steady[1] = append(steady[0], ref...), append(steady[1], got...)
		}
		pos += nb
	}
	if recovering {
		maxResync = max(maxResync, (pos-lossAt)*1000/SampleRate)
	}
	if opusRMS(all[0]) < 100 {
		t.Fatalf("libopus output RMS %.1f: the stream carries no signal to compare", opusRMS(all[0]))
	}
	return opusDiffStats{
		whole:       opusSNR(all[0], all[1]),
		plc:         opusSNR(plc[0], plc[1]),
		steady:      opusSNR(steady[0], steady[1]),
		maxResyncMs: maxResync,
	}
}

// TestOpusStereoDifferentialLibopus: stereo packets downmixed by both
// decoders agree.
func TestOpusStereoDifferentialLibopus(t *testing.T) {
	for _, cfg := range []opusEncCfg{
		{48000, 2, gopus.ApplicationAudio, 96000, 20000},
		{16000, 2, gopus.ApplicationVoIP, 32000, 20000},
	} {
		t.Run(fmt.Sprintf("%dHz_%dbps", cfg.fs, cfg.bitrate), func(t *testing.T) {
			l, r := opusSpeechLike(cfg.fs, 2, 1), opusSpeechLike(cfg.fs, 2, 2)
			x := make([]int16, 2*len(l))
			for i := range l {
				x[2*i], x[2*i+1] = l[i], r[i]
			}
			pkts := opusLibopusStream(t, cfg, x)
			lib, err := NewLibopusDecoder()
			if err != nil {
				t.Fatal(err)
			}
			libOut := opusDecodeStream(t, lib, pkts)
			goOut := opusDecodeStream(t, newOpusDecoderT(t), pkts)
			snr := opusSNR(libOut, goOut)
			t.Logf("stereo %s SNR %s", t.Name(), opusFmtSNR(snr))
			if snr < opusMinDifferentialSNR {
				t.Errorf("SNR %.1f dB, want ≥ %.0f", snr, opusMinDifferentialSNR)
			}
		})
	}
}

// TestOpusMalformedAgreesLibopus: on garbage both decoders take the same
// decision — refuse, or accept with the same sample count.
func TestOpusMalformedAgreesLibopus(t *testing.T) {
	goDec := newOpusDecoderT(t)
	lib, err := NewLibopusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	pcmA, pcmB := make([]int16, OpusMaxPacketSamples), make([]int16, OpusMaxPacketSamples)
	disagree := 0
	for i := range 2000 {
		p := make([]byte, 1+rng.IntN(120))
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		na, ea := goDec.Decode(p, pcmA)
		nb, eb := lib.Decode(p, pcmB)
		if (ea == nil) != (eb == nil) || na != nb {
			disagree++
			if disagree <= 5 {
				t.Logf("packet %d % x: gopus (%d, %v), libopus (%d, %v)", i, p[:min(8, len(p))], na, ea, nb, eb)
			}
		}
		if eb != nil && !errors.Is(eb, ErrOpusMalformed) {
			t.Fatalf("libopus twin error %v does not wrap ErrOpusMalformed", eb)
		}
	}
	if disagree > 0 {
		t.Errorf("%d of 2000 random packets decided differently", disagree)
	}
}

// TestOpusLibopusReset: the twin's Reset starts a clean stream too.
func TestOpusLibopusReset(t *testing.T) {
	pkts := opusEncodeStream(t, 16000, opusSpeechLike(SampleRate, 1, 9))
	a, _ := NewLibopusDecoder()
	fresh := opusDecodeStream(t, a, pkts)
	b, _ := NewLibopusDecoder()
	opusDecodeStream(t, b, pkts[:20])
	b.Reset()
	again := opusDecodeStream(t, b, pkts)
	if snr := opusSNR(fresh, again); !math.IsInf(snr, 1) {
		t.Fatalf("after Reset output differs from a fresh decoder (SNR %.1f dB)", snr)
	}
}

// BenchmarkOpusDecodeLibopus is BenchmarkOpusDecode over the cgo libopus
// twin, for a like-for-like cost comparison.
func BenchmarkOpusDecodeLibopus(b *testing.B) { benchOpusDecode(b, NewLibopusDecoder) }

// TestOpusFECDifferentialLibopus: rebuilding lost packets from in-band FEC
// gives the same audio in both decoders. SILK redundancy decoding did not
// change between libopus generations, unlike concealment.
func TestOpusFECDifferentialLibopus(t *testing.T) {
	cases := []struct {
		name    string
		fs      int
		bitrate int
		app     opus.Application
	}{
		{"silk_nb_8k", 8000, 24000, opus.AppVoIP},
		{"silk_wb_16k", 16000, 32000, opus.AppVoIP},
		{"hybrid_48k", 48000, 40000, opus.AppVoIP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := opus.NewEncoder(tc.fs, 1, tc.app)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []func() error{
				func() error { return enc.SetBitrate(tc.bitrate) },
				func() error { return enc.SetInBandFEC(true) },
				func() error { return enc.SetPacketLossPerc(20) },
			} {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}
			x := opusSpeechLike(tc.fs, 4, 41)
			step := tc.fs / 50
			var pkts [][]byte
			buf := make([]byte, 4000)
			for i := 0; i+step <= len(x); i += step {
				n, err := enc.Encode(x[i:i+step], buf)
				if err != nil {
					t.Fatal(err)
				}
				pkts = append(pkts, append([]byte(nil), buf[:n]...))
			}
			lib, err := NewLibopusDecoder()
			if err != nil {
				t.Fatal(err)
			}
			decs := [2]FECDecoder{newOpusDecoderT(t).(FECDecoder), lib.(FECDecoder)}
			var outs [2][]int16
			recovered := 0
			pcm := make([]int16, OpusMaxPacketSamples)
			for i, p := range pkts {
				// Only losses the next packet can repair: concealment is
				// compared (and differs by libopus generation) elsewhere.
				lost := i%9 == 4 && i+1 < len(pkts) && OpusHasFEC(pkts[i+1])
				if lost {
					recovered++
				}
				for k, d := range decs {
					var n int
					var err error
					if lost {
						n, err = d.DecodeFEC(pkts[i+1], pcm, FrameSamples)
					} else {
						n, err = d.Decode(p, pcm)
					}
					if err != nil {
						t.Fatalf("decoder %d packet %d: %v", k, i, err)
					}
					outs[k] = append(outs[k], pcm[:n]...)
				}
			}
			if recovered < 5 {
				t.Fatalf("only %d losses had FEC to recover from", recovered)
			}
			snr := opusSNR(outs[1], outs[0])
			t.Logf("%s: %d losses rebuilt from FEC, SNR %s", opus.Version(), recovered, opusFmtSNR(snr))
			if snr < opusMinDifferentialSNR {
				t.Errorf("SNR %.1f dB, want ≥ %.0f dB", snr, opusMinDifferentialSNR)
			}
		})
	}
}
