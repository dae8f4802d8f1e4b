package audiofile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amd-engine/amd/dsp"
)

// --- WAV building blocks for hand-made (and deliberately broken) files ---

func u16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func u32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// chunk is an honest RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	c := cat([]byte(id), u32(len(body)), body)
	if len(body)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// lyingChunk claims size but carries body (no pad).
func lyingChunk(id string, size uint32, body []byte) []byte {
	return cat([]byte(id), binary.LittleEndian.AppendUint32(nil, size), body)
}

func fmtBody(tag, ch, rate, bits int) []byte {
	ba := ch * bits / 8
	return cat(u16(tag), u16(ch), u32(rate), u32(rate*ba), u16(ba), u16(bits))
}

func extFmtBody(subTag, ch, rate, bits int) []byte {
	b := fmtBody(wavTagExtensible, ch, rate, bits)
	b = cat(b, u16(22), u16(bits), u32(0x4))
	b = cat(b, u16(subTag), ksdataformatSubtypeTail[:])
	return b
}

func riff(chunks ...[]byte) []byte {
	body := cat(append([][]byte{[]byte("WAVE")}, chunks...)...)
	return cat([]byte("RIFF"), u32(len(body)), body)
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func stereo(l, r []int16) []int16 {
	out := make([]int16, 2*len(l))
	for i := range l {
		out[2*i], out[2*i+1] = l[i], r[i]
	}
	return out
}

func equalSamples(t *testing.T, got, want []int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("sample %d: got %d want %d", i, got[i], want[i])
		}
	}
}

// TestWAVFromSox decodes files written by sox at every common rate, in
// every supported encoding, mono, stereo and 4-channel (which sox writes as
// WAVE_FORMAT_EXTENSIBLE), and checks length, metadata and the tone level.
func TestWAVFromSox(t *testing.T) {
	needTool(t, "sox")
	dir := t.TempDir()
	type tc struct {
		rate, ch int
		enc      string
		bits     int
		format   Format
	}
	var cases []tc
	for _, rate := range []int{8000, 11025, 16000, 22050, 32000, 44100, 48000} {
		for _, ch := range []int{1, 2} {
			cases = append(cases,
				tc{rate, ch, "signed-integer", 16, FormatWAVPCM16},
				tc{rate, ch, "mu-law", 8, FormatWAVMulaw},
				tc{rate, ch, "a-law", 8, FormatWAVAlaw})
		}
	}
	cases = append(cases,
		tc{16000, 4, "signed-integer", 16, FormatWAVPCM16}, // sox writes EXTENSIBLE
		tc{8000, 1, "unsigned-integer", 8, FormatWAVPCM8},
		tc{44100, 2, "signed-integer", 24, FormatWAVPCM24},
		tc{48000, 1, "signed-integer", 32, FormatWAVPCM32},
		tc{16000, 1, "floating-point", 32, FormatWAVFloat},
		tc{22050, 2, "floating-point", 64, FormatWAVFloat})
	for _, c := range cases {
		name := fmt.Sprintf("%s-%d-%dch", c.format, c.rate, c.ch)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, name+".wav")
			runTool(t, "sox", "-D", "-n", "-r", fmt.Sprint(c.rate), "-c", fmt.Sprint(c.ch),
				"-e", c.enc, "-b", fmt.Sprint(c.bits), path, "synth", "0.5", "sine", "1000", "vol", "0.5")
			a, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if a.Format != c.format || a.SourceRate != c.rate || a.Channels != c.ch {
				t.Fatalf("got %s %d Hz %d ch, want %s %d Hz %d ch", a.Format, a.SourceRate, a.Channels, c.format, c.rate, c.ch)
			}
			if len(a.Samples) != 4000 || a.DurationMs != 500 {
				t.Fatalf("got %d samples / %d ms, want 4000 / 500", len(a.Samples), a.DurationMs)
			}
			db := 20 * math.Log10(level(a.Samples, 1000, 200)/16383.5)
			if math.Abs(db) > 0.3 {
				t.Fatalf("1 kHz level %.2f dB, want 0±0.3", db)
			}
			// Nothing but the tone: the residual is quantisation noise
			// (8-bit and G.711 are the noisiest).
			floor := 0.02
			if c.bits == 16 || c.bits > 16 {
				floor = 0.002
			}
			if r := residual(a.Samples, 1000, 200); r > floor*16383.5 {
				t.Fatalf("residual %.1f, want < %.1f", r, floor*16383.5)
			}
		})
	}
}

func TestWAVHandMade(t *testing.T) {
	mono := sineAt(8000, 440, 10000, 800)
	monoData := pcmBytes(mono)
	fmt8k := chunk("fmt ", fmtBody(wavTagPCM, 1, 8000, 16))
	odd := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sox!\x00")) // odd size, padded
	ulaw := make([]byte, len(mono))
	dsp.EncodeMulaw(ulaw, mono)
	ulawDec := make([]int16, len(ulaw))
	dsp.DecodeMulaw(ulawDec, ulaw)

	tests := []struct {
		name    string
		file    []byte
		want    []int16 // exact samples expected (nil: don't compare)
		wantLen int     // expected length when want is nil
		wantErr error
		msg     string // substring of the error message
	}{
		{name: "plain", file: riff(fmt8k, chunk("data", monoData)), want: mono},
		{name: "odd LIST before data", file: riff(fmt8k, odd, chunk("data", monoData)), want: mono},
		{name: "odd LIST missing its pad byte", file: riff(fmt8k, odd[:len(odd)-1], chunk("data", monoData)), want: mono},
		{name: "odd fmt missing its pad byte", file: riff(chunk("fmt ", append(fmtBody(wavTagPCM, 1, 8000, 16), 0, 0, 0))[:8+19], chunk("data", monoData)), want: mono},
		{name: "float32 full scale clips", file: riff(chunk("fmt ", fmtBody(wavTagFloat, 1, 8000, 32)), chunk("data", cat(u32(0x40000000), u32(0xc0000000), u32(0x3f000000), u32(0x7fc00000)))), want: []int16{32767, -32768, 16384, 0}},
		{name: "pcm8 unsigned", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 8000, 8)), chunk("data", []byte{0, 128, 255, 64})), want: []int16{-32768, 0, 32512, -16384}},
		{name: "pcm24 top bits", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 8000, 24)), chunk("data", []byte{0xff, 0x34, 0x12, 0x00, 0x00, 0x80})), want: []int16{0x1234, -32768}},
		{name: "unknown chunks around", file: riff(chunk("JUNK", make([]byte, 28)), fmt8k, chunk("bext", make([]byte, 3)), chunk("data", monoData), odd), want: mono},
		{name: "odd-length data", file: riff(fmt8k, chunk("data", append(monoData[:len(monoData):len(monoData)], 0x55))), want: mono},
		{name: "data size 0xFFFFFFFF", file: riff(fmt8k, lyingChunk("data", 0xFFFFFFFF, monoData)), want: mono},
		{name: "data size past EOF", file: riff(fmt8k, lyingChunk("data", 1<<30, monoData)), want: mono},
		{name: "zero sizes from a streaming writer", file: cat([]byte("RIFF"), u32(0), []byte("WAVE"), fmt8k, lyingChunk("data", 0, monoData)), want: mono},
		{name: "honest data then trailer not read as audio", file: riff(fmt8k, chunk("data", monoData[:800]), chunk("LIST", make([]byte, 100))), want: mono[:400]},
		{name: "extensible PCM", file: riff(chunk("fmt ", extFmtBody(wavTagPCM, 1, 8000, 16)), chunk("data", monoData)), want: mono},
		{name: "mulaw", file: riff(chunk("fmt ", append(fmtBody(wavTagMuLaw, 1, 8000, 8), 0, 0)), chunk("fact", u32(800)), chunk("data", ulaw)), want: ulawDec},
		{name: "extensible mulaw", file: riff(chunk("fmt ", extFmtBody(wavTagMuLaw, 1, 8000, 8)), chunk("data", ulaw)), want: ulawDec},
		{name: "stereo averages", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 2, 8000, 16)), chunk("data", pcmBytes(stereo(mono, make([]int16, len(mono)))))), wantLen: 800},
		{name: "stereo opposite phase cancels", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 2, 8000, 16)), chunk("data", pcmBytes(stereo(mono, neg(mono))))), want: make([]int16, 800)},

		{name: "empty file", file: nil, wantErr: ErrEmpty, msg: "empty file"},
		{name: "truncated RIFF header", file: []byte("RIFF\x00\x00"), wantErr: ErrTruncated, msg: "wav: truncated RIFF header"},
		{name: "empty data", file: riff(fmt8k, chunk("data", nil)), wantErr: ErrEmpty, msg: "wav: data chunk is empty"},
		{name: "data shorter than one frame", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 2, 8000, 16)), chunk("data", []byte{1, 2, 3})), wantErr: ErrEmpty},
		{name: "no data chunk", file: riff(fmt8k), wantErr: ErrTruncated, msg: "wav: no data chunk"},
		{name: "no fmt chunk", file: riff(), wantErr: ErrTruncated, msg: "wav: no fmt chunk"},
		{name: "data before fmt", file: riff(chunk("data", monoData), fmt8k), wantErr: ErrCorrupt, msg: "wav: data chunk before fmt chunk"},
		{name: "huge fmt size", file: riff(lyingChunk("fmt ", 0x7FFFFFF0, fmtBody(wavTagPCM, 1, 8000, 16)), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "wav: fmt chunk size 2147483632 is implausible"},
		{name: "fmt size past EOF", file: riff(lyingChunk("fmt ", 40, fmtBody(wavTagPCM, 1, 8000, 16))), wantErr: ErrTruncated, msg: "wav: truncated fmt chunk"},
		{name: "short fmt", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 8000, 16)[:14]), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "wav: fmt chunk too short"},
		{name: "short extensible fmt", file: riff(chunk("fmt ", fmtBody(wavTagExtensible, 1, 8000, 16)), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "extensible"},
		{name: "zero channels", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 0, 8000, 16)), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "wav: zero channels"},
		{name: "zero rate", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 0, 16)), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "wav: zero sample rate"},
		{name: "bad block align", file: riff(chunk("fmt ", cat(fmtBody(wavTagPCM, 1, 8000, 16)[:12], u16(3), u16(16))), chunk("data", monoData)), wantErr: ErrCorrupt, msg: "block align"},
		{name: "12-bit", file: riff(chunk("fmt ", cat(fmtBody(wavTagPCM, 1, 8000, 12)[:12], u16(2), u16(12))), chunk("data", monoData)), wantErr: ErrUnsupported, msg: "unsupported format: WAV PCM 12-bit"},
		{name: "16-bit float", file: riff(chunk("fmt ", fmtBody(wavTagFloat, 1, 8000, 16)), chunk("data", monoData)), wantErr: ErrUnsupported, msg: "unsupported format: WAV float 16-bit"},
		{name: "IMA ADPCM", file: riff(chunk("fmt ", fmtBody(0x11, 1, 8000, 4)), chunk("data", monoData)), wantErr: ErrUnsupported, msg: "unsupported format: WAV IMA ADPCM"},
		{name: "absurd rate", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 999, 16)), chunk("data", monoData)), wantErr: ErrUnsupported, msg: "sample rate 999 Hz"},
		{name: "odd rate resampled", file: riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 8001, 16)), chunk("data", monoData)), wantLen: 800},
		{name: "lying LIST hides data", file: riff(fmt8k, lyingChunk("LIST", 1<<20, monoData)), wantErr: ErrTruncated, msg: "wav: truncated 'LIST' chunk"},
		{name: "RIFX", file: cat([]byte("RIFX"), u32(4), []byte("WAVE")), wantErr: ErrUnsupported, msg: "RIFX"},
		{name: "MP3", file: []byte("ID3\x04\x00\x00\x00\x00\x00\x00rest"), wantErr: ErrUnsupported, msg: "unsupported format: MP3 (ID3 tag)"},
		{name: "FLAC", file: []byte("fLaC\x00\x00\x00\x22"), wantErr: ErrUnsupported, msg: "FLAC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := decodeBytes(tc.file)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("decoded %d samples, want error %v", len(a.Samples), tc.wantErr)
				}
				checkErr(t, err)
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q, want %v containing %q", err, tc.wantErr, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				equalSamples(t, a.Samples, tc.want)
			} else if len(a.Samples) != tc.wantLen {
				t.Fatalf("got %d samples, want %d", len(a.Samples), tc.wantLen)
			}
		})
	}
}

func neg(s []int16) []int16 {
	out := make([]int16, len(s))
	for i, v := range s {
		out[i] = -v
	}
	return out
}

func TestWAVStereoAverageLevel(t *testing.T) {
	l := sineAt(8000, 1000, 20000, 1600)
	a, err := decodeBytes(riff(chunk("fmt ", fmtBody(wavTagPCM, 2, 8000, 16)), chunk("data", pcmBytes(stereo(l, make([]int16, len(l)))))))
	if err != nil {
		t.Fatal(err)
	}
	if lv := level(a.Samples, 1000, 0); math.Abs(lv-10000) > 2 {
		t.Fatalf("one-sided stereo averages to level %.1f, want 10000", lv)
	}
}

func TestWAVTooLong(t *testing.T) {
	// A 0xFFFFFFFF-size data stream longer than the cap: the decoder must
	// stop at the cap. The cap is lowered to keep the test fast (it is a
	// package variable for this; not a parallel test).
	defer func(old int) { maxSamples = old }(maxSamples)
	maxSamples = 3 * 8000
	hdr := riff(chunk("fmt ", fmtBody(wavTagMuLaw, 1, 8000, 8)))
	hdr = cat(hdr, []byte("data"), u32(0xFFFFFFFF))
	n := int64(31 * 60 * 8000) // 31 minutes: never read to the end
	r := io.MultiReader(bytes.NewReader(hdr), &constReader{n: n, b: 0xFF})
	_, err := Decode(r, -1)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("err %v, want ErrTooLong", err)
	}
	checkErr(t, err)
}

func TestWAVTruncatedEveryOffset(t *testing.T) {
	t.Parallel()
	mono := sineAt(8000, 440, 10000, 40)
	files := map[string][]byte{
		"pcm":        riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 8000, 16)), chunk("LIST", []byte("INFOx")), chunk("data", pcmBytes(mono))),
		"extensible": riff(chunk("fmt ", extFmtBody(wavTagPCM, 2, 16000, 16)), chunk("data", pcmBytes(stereo(mono, mono)))),
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			full, err := decodeBytes(f)
			if err != nil {
				t.Fatal(err)
			}
			expectTruncationSafe(t, f, len(full.Samples))
			// Cuts inside the headers must be errors, not empty audio.
			for cut := 0; cut < 44; cut++ {
				if _, err := decodeBytes(f[:cut]); err == nil {
					t.Fatalf("header cut at %d decoded without error", cut)
				}
			}
		})
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	t.Parallel()
	s := sineAt(16000, 1000, 12000, 1601) // odd count: exercises the pad byte for G.711
	for _, tc := range []struct {
		enc    Encoding
		format Format
	}{{PCM16, FormatWAVPCM16}, {Mulaw, FormatWAVMulaw}, {Alaw, FormatWAVAlaw}} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, s, 16000, tc.enc); err != nil {
			t.Fatal(err)
		}
		if buf.Len()%2 != 0 {
			t.Fatalf("%s: RIFF size %d is odd, pad byte missing", tc.format, buf.Len())
		}
		if got := binary.LittleEndian.Uint32(buf.Bytes()[4:]); int(got) != buf.Len()-8 {
			t.Fatalf("%s: RIFF size field %d, file %d", tc.format, got, buf.Len())
		}
		a, err := decodeBytes(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if a.Format != tc.format || a.SourceRate != 16000 || len(a.Samples) != 801 {
			t.Fatalf("%s: got %s %d Hz %d samples", tc.format, a.Format, a.SourceRate, len(a.Samples))
		}
		if db := 20 * math.Log10(level(a.Samples, 1000, 50)/12000); math.Abs(db) > 0.3 {
			t.Fatalf("%s: level %.2f dB", tc.format, db)
		}
	}
	if err := WriteWAV(&bytes.Buffer{}, s, 0, PCM16); !errors.Is(err, ErrWrite) {
		t.Fatalf("rate 0: err %v", err)
	}
}

// TestWriteWAVReadBySox proves the writer's files are valid for other tools.
func TestWriteWAVReadBySox(t *testing.T) {
	needTool(t, "sox")
	dir := t.TempDir()
	s := sineAt(8000, 1000, 8000, 8000)
	for _, enc := range []Encoding{PCM16, Mulaw, Alaw} {
		in := filepath.Join(dir, fmt.Sprintf("w%d.wav", enc))
		var buf bytes.Buffer
		if err := WriteWAV(&buf, s, 8000, enc); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("w%d.raw", enc))
		runTool(t, "sox", "-D", in, "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", out)
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 2*len(s) {
			t.Fatalf("encoding %d: sox read %d samples, want %d", enc, len(raw)/2, len(s))
		}
	}
}

func BenchmarkDecodeWAV44k(b *testing.B) {
	s := sineAt(44100, 1000, 8000, 44100*10)
	var buf bytes.Buffer
	if err := WriteWAV(&buf, s, 44100, PCM16); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeBytes(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

// constReader yields n copies of b.
type constReader struct {
	n int64
	b byte
}

func (c *constReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), c.n))
	for i := range p[:k] {
		p[i] = c.b
	}
	c.n -= int64(k)
	return k, nil
}

// residual is the RMS of s after removing its freq component.
func residual(s []int16, freq float64, skip int) float64 {
	var e float64
	n := 0
	for i := skip; i < len(s)-skip; i++ {
		e += float64(s[i]) * float64(s[i])
		n++
	}
	lv := level(s, freq, skip)
	return math.Sqrt(math.Max(0, e/float64(n)-lv*lv/2))
}

func TestLoadErrors(t *testing.T) {
	if _, err := Decode(nil, 0); !errors.Is(err, ErrEmpty) {
		t.Fatalf("nil reader: %v", err)
	}
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.wav")); !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), dir) {
		t.Fatalf("missing file: %v (want ErrNotExist, without the path)", err)
	}
	if _, err := Load(dir); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("directory: %v", err)
	}
	empty := filepath.Join(dir, "empty.wav")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(empty); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty file: %v", err)
	}
}
