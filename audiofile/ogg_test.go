package audiofile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/thesyncim/gopus"
	"github.com/thesyncim/gopus/container/ogg"

	"github.com/amd-engine/amd/dsp"
)

// opusPackets encodes s (8 kHz mono) into 20 ms Opus packets.
func opusPackets(t testing.TB, s []int16) [][]byte {
	t.Helper()
	enc, err := dsp.NewOpusEncoder(24000)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	buf := make([]byte, dsp.OpusMaxPacketBytes)
	for i := 0; i+dsp.FrameSamples <= len(s); i += dsp.FrameSamples {
		n, err := enc.Encode(s[i:i+dsp.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, bytes.Clone(buf[:n]))
	}
	return pkts
}

// decodeRef decodes packets back to back with a fresh decoder.
func decodeRef(t testing.TB, pkts [][]byte) []int16 {
	t.Helper()
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	pcm := make([]int16, dsp.OpusMaxPacketSamples)
	for _, p := range pkts {
		n, err := dec.Decode(p, pcm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm[:n]...)
	}
	return out
}

func oggFile(t testing.TB, pkts [][]byte, preSkip int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteOggOpus(&buf, pkts, preSkip); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOggOpusPreSkipAndTrim(t *testing.T) {
	t.Parallel()
	pkts := opusPackets(t, sineAt(8000, 1000, 10000, 8000))
	ref := decodeRef(t, pkts)
	for _, preSkip := range []int{0, 312, 3840} {
		a, err := decodeBytes(oggFile(t, pkts, preSkip))
		if err != nil {
			t.Fatal(err)
		}
		if a.Format != FormatOggOpus || a.SourceRate != 48000 || a.Channels != 1 {
			t.Fatalf("got %s %d Hz %d ch", a.Format, a.SourceRate, a.Channels)
		}
		// The writer's last granule counts every sample including the
		// pre-skip, so the file's audio is the decode minus the pre-skip.
		equalSamples(t, a.Samples, ref[preSkip/6:len(pkts)*960/6])
		if db := 20 * math.Log10(level(a.Samples, 1000, 400)/10000); math.Abs(db) > 1.5 {
			t.Fatalf("pre-skip %d: 1 kHz level %.2f dB", preSkip, db)
		}
	}
}

// TestOggOpusEndTrim checks that a final granule position shorter than the
// decoded audio trims the encoder padding (RFC 7845 §4.5).
func TestOggOpusEndTrim(t *testing.T) {
	t.Parallel()
	pkts := opusPackets(t, sineAt(8000, 500, 8000, 1600)) // 10 packets
	ref := decodeRef(t, pkts)
	var buf bytes.Buffer
	w, err := ogg.NewWriterWithConfig(&buf, ogg.WriterConfig{SampleRate: 8000, Channels: 1, PreSkip: 312})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		n := 960
		if i == len(pkts)-1 {
			n = 300 // last packet only partly real: granule ends early
		}
		if err := w.WritePacket(p, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := decodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	end := (9*960 + 300) / 6
	equalSamples(t, a.Samples, ref[52:end])
}

func TestOggOpusStereoFullband(t *testing.T) {
	t.Parallel()
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: 2, Application: gopus.ApplicationAudio})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := ogg.NewWriter(&buf, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]float32, 960*2)
	pkt := make([]byte, 4000)
	for f := 0; f < 50; f++ {
		for i := 0; i < 960; i++ {
			v := float32(0.3 * math.Sin(2*math.Pi*1000*float64(f*960+i)/48000))
			frame[2*i], frame[2*i+1] = v, v
		}
		n, err := enc.Encode(frame, pkt)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			continue
		}
		if err := w.WritePacket(pkt[:n], 960); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := decodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a.Channels != 2 || len(a.Samples) < 7000 {
		t.Fatalf("got %d ch, %d samples", a.Channels, len(a.Samples))
	}
	if db := 20 * math.Log10(level(a.Samples, 1000, 800)/(0.3*32768)); math.Abs(db) > 1.5 {
		t.Fatalf("1 kHz level %.2f dB, want 0±1.5", db)
	}
}

func TestOggOpusOutputGain(t *testing.T) {
	t.Parallel()
	pkts := opusPackets(t, sineAt(8000, 1000, 10000, 8000))
	f := oggFile(t, pkts, 312)
	plain, err := decodeBytes(f)
	if err != nil {
		t.Fatal(err)
	}
	// Patch OpusHead's output gain to -6.02 dB (Q7.8) and re-seal the
	// first page's CRC.
	g := bytes.Clone(f)
	head := 27 + int(g[26])
	binary.LittleEndian.PutUint16(g[head+16:], uint16(0xFFFF&-1541))
	binary.LittleEndian.PutUint32(g[22:], 0)
	binary.LittleEndian.PutUint32(g[22:], oggCRC(g[:head+19]))
	a, err := decodeBytes(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) != len(plain.Samples) {
		t.Fatalf("length changed: %d vs %d", len(a.Samples), len(plain.Samples))
	}
	ratio := level(a.Samples, 1000, 400) / level(plain.Samples, 1000, 400)
	if math.Abs(ratio-0.5) > 0.005 {
		t.Fatalf("gain ratio %.4f, want 0.5", ratio)
	}
}

// oggPage builds one Ogg page (CRC included) with a single packet.
func oggPage(payload []byte, flags byte, serial uint32, seq uint32) []byte {
	p := []byte("OggS")
	p = append(p, 0, flags)
	p = append(p, make([]byte, 8)...) // granule
	p = append(p, u32(int(serial))...)
	p = append(p, u32(int(seq))...)
	p = append(p, 0, 0, 0, 0) // CRC placeholder
	var segs []byte
	n := len(payload)
	for n >= 255 {
		segs = append(segs, 255)
		n -= 255
	}
	segs = append(segs, byte(n))
	p = append(p, byte(len(segs)))
	p = append(p, segs...)
	p = append(p, payload...)
	crc := oggCRC(p)
	p[22], p[23], p[24], p[25] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	return p
}

func TestOggErrors(t *testing.T) {
	t.Parallel()
	good := oggFile(t, opusPackets(t, sineAt(8000, 440, 8000, 800)), 312)
	headersOnly := func() []byte {
		var buf bytes.Buffer
		w, err := ogg.NewWriter(&buf, 8000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	surround := func() []byte {
		h := ogg.DefaultOpusHeadMultistream(48000, 6, 4, 2, []byte{0, 4, 1, 2, 3, 5})
		return oggPage(h.Encode(), 0x02, 7, 0)
	}()
	tests := []struct {
		name    string
		file    []byte
		wantErr error
		msg     string
	}{
		{"vorbis", oggPage([]byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00"), 0x02, 1, 0), ErrUnsupported, "unsupported format: Ogg Vorbis"},
		{"speex", oggPage([]byte("Speex   1.2rc1\x00\x00"), 0x02, 1, 0), ErrUnsupported, "Ogg Speex"},
		{"first page cut", good[:20], ErrTruncated, "ogg: truncated first page"},
		{"headers only", headersOnly, ErrEmpty, "ogg: no audio packets"},
		{"tags page missing", good[:47], ErrTruncated, "ogg: reading Opus headers"},
		{"surround", surround, ErrUnsupported, "6 channels"},
		{"bad OpusHead", oggPage([]byte("OpusHead\x09\x01\x38\x01"), 0x02, 1, 0), ErrCorrupt, "ogg:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBytes(tc.file)
			if err == nil {
				t.Fatal("decoded without error")
			}
			checkErr(t, err)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q, want %v containing %q", err, tc.wantErr, tc.msg)
			}
		})
	}
}

func TestOggTruncatedEveryOffset(t *testing.T) {
	t.Parallel()
	f := oggFile(t, opusPackets(t, sineAt(8000, 440, 8000, 1600)), 312)
	full, err := decodeBytes(f)
	if err != nil {
		t.Fatal(err)
	}
	expectTruncationSafe(t, f, len(full.Samples))
}

func TestOggCorruptAudioPageKeepsPrefix(t *testing.T) {
	t.Parallel()
	pkts := opusPackets(t, sineAt(8000, 440, 8000, 1600))
	f := oggFile(t, pkts, 0)
	// Damage the last audio page's payload: its CRC fails, the audio
	// before it survives.
	last := bytes.LastIndex(f, []byte("OggS"))
	prev := bytes.LastIndex(f[:last], []byte("OggS"))
	bad := bytes.Clone(f)
	bad[prev+30] ^= 0xFF
	a, err := decodeBytes(bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) == 0 || len(a.Samples) >= 1600 {
		t.Fatalf("got %d samples, want a non-empty prefix of 1600", len(a.Samples))
	}
}

func BenchmarkDecodeOggOpus(b *testing.B) {
	data := oggFile(b, opusPackets(b, sineAt(8000, 440, 8000, 8000*10)), 312)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeBytes(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

func TestOggReadCap(t *testing.T) {
	defer func(old int64) { maxOggBytes = old }(maxOggBytes)
	f := oggFile(t, opusPackets(t, sineAt(8000, 440, 8000, 1600)), 312)
	maxOggBytes = int64(len(f) / 2)
	_, err := decodeBytes(f)
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "ogg: file larger than") {
		t.Fatalf("err %v, want ErrTooLong", err)
	}
	checkErr(t, err)
}
