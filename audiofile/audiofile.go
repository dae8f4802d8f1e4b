// Package audiofile reads recordings into 8 kHz mono int16 PCM for the
// offline analyzer (`amdctl analyze`), the fixture tools and the tests.
//
// It owns container parsing only: WAV (PCM 8/16/24/32-bit and IEEE float at
// any rate, μ-law, A-law, mono or multi-channel averaged to mono,
// WAVE_FORMAT_EXTENSIBLE), Ogg Opus (mono/stereo), and
// packet captures (pcap and pcapng) holding an RTP stream of PCMU, PCMA or
// Opus. The format is sniffed from the content, never from the file name.
// Codecs and the resampler come from package dsp.
//
// Every input is untrusted: headers that lie about sizes are clamped or
// rejected, nothing is allocated from a size field before the bytes behind
// it have been seen, decoded audio is capped at MaxDurationMs, and errors are
// single lines wrapping one of the package's sentinel errors.
package audiofile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/amd-engine/amd/dsp"
)

// Format names the container and codec a file was decoded from.
type Format string

// Formats Decode recognises.
const (
	FormatWAVPCM16 Format = "wav-pcm16"
	FormatWAVPCM8  Format = "wav-pcm8"  // unsigned 8-bit
	FormatWAVPCM24 Format = "wav-pcm24" // 24-bit packed
	FormatWAVPCM32 Format = "wav-pcm32"
	FormatWAVFloat Format = "wav-float" // IEEE float, 32 or 64 bit
	FormatWAVMulaw Format = "wav-mulaw"
	FormatWAVAlaw  Format = "wav-alaw"
	FormatOggOpus  Format = "ogg-opus"
	FormatPcapPCMU Format = "pcap-pcmu"
	FormatPcapPCMA Format = "pcap-pcma"
	FormatPcapOpus Format = "pcap-opus"
)

// Audio is a decoded recording.
type Audio struct {
	// Samples is the audio at dsp.SampleRate (8 kHz), mono.
	Samples []int16
	// Format is the container/codec the samples came from.
	Format Format
	// SourceRate is the sample rate before resampling (for Opus, the
	// codec's 48 kHz clock).
	SourceRate int
	// Channels is the source channel count (averaged into mono).
	Channels int
	// DurationMs is len(Samples) in milliseconds.
	DurationMs int64
}

// Limits on what Decode accepts.
const (
	// MaxDurationMs is the longest audio decoded: the analyzer works on call
	// openings, and the cap bounds memory for any input.
	MaxDurationMs = 30 * 60 * 1000
	// sniffLen is how many leading bytes content sniffing looks at.
	sniffLen = 512
)

// maxSamples is MaxDurationMs at 8 kHz; a variable only so tests can
// exercise the cap without decoding 30 minutes.
var maxSamples = MaxDurationMs / 1000 * dsp.SampleRate

// Load decodes the audio file at path, sniffing its format from its content.
func Load(path string) (*Audio, error) {
	f, err := os.Open(path)
	if err != nil {
		// The caller names the file; keep the cause (errors.Is with
		// fs.ErrNotExist etc. still works) without repeating the path.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("open: %w", pe.Err)
		}
		return nil, err
	}
	defer f.Close()
	size := int64(-1)
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, errorf(ErrUnsupported, "unsupported format: a directory")
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	return Decode(f, size)
}

// Decode reads a whole file from r. size is the number of bytes r holds, or
// -1 if unknown; it only sharpens the size clamping and preallocation.
func Decode(r io.Reader, size int64) (*Audio, error) {
	if r == nil {
		return nil, errorf(ErrEmpty, "no input")
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, wrapIO(ErrTruncated, err, "read")
	}
	if len(head) == 0 {
		return nil, errorf(ErrEmpty, "empty file")
	}
	var a *Audio
	switch kind := sniff(head); kind {
	case kindWAV:
		a, err = decodeWAV(br, size)
	case kindOgg:
		a, err = decodeOgg(br)
	case kindPcap:
		a, err = decodePcap(br)
	default:
		return nil, errorf(ErrUnsupported, "unsupported format: %s", kind)
	}
	if err != nil {
		return nil, err
	}
	a.DurationMs = int64(len(a.Samples)) * 1000 / dsp.SampleRate
	return a, nil
}

const (
	kindWAV  = "WAV"
	kindOgg  = "Ogg"
	kindPcap = "pcap"
)

// sniff names the content from its magic bytes. Formats we do not decode
// get a descriptive name for the error message.
func sniff(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "RIFF") && (len(b) < 12 || has(8, "WAVE")):
		// A RIFF too short to show its form type is a truncated WAV as far
		// as anyone can tell; the WAV reader reports it as such.
		return kindWAV
	case has(0, "RIFF") && has(8, "AVI "):
		return "AVI (RIFF video)"
	case has(0, "RIFF"):
		return fmt.Sprintf("RIFF form %q", b[8:12])
	case has(0, "RIFX"):
		return "big-endian WAV (RIFX)"
	case has(0, "RF64") || has(0, "BW64"):
		return "RF64 WAV (64-bit sizes)"
	case has(0, "OggS"):
		return kindOgg
	case has(0, "\xa1\xb2\xc3\xd4"), has(0, "\xd4\xc3\xb2\xa1"),
		has(0, "\xa1\xb2\x3c\x4d"), has(0, "\x4d\x3c\xb2\xa1"),
		has(0, "\x0a\x0d\x0d\x0a"):
		return kindPcap
	case has(0, "ID3"):
		return "MP3 (ID3 tag)"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0 && b[1]&0x06 != 0:
		// Frame sync with a non-zero layer field: MPEG audio (layer 0 is ADTS).
		return "MP3 (MPEG audio frame)"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xF6 == 0xF0:
		return "AAC (ADTS)"
	case has(0, "fLaC"):
		return "FLAC"
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return "AIFF"
	case has(0, ".snd"):
		return "Sun/NeXT AU"
	case has(0, "#!AMR"):
		return "AMR"
	case has(4, "ftyp"):
		return "MP4/M4A"
	case has(0, "\x1a\x45\xdf\xa3"):
		return "Matroska/WebM"
	case has(0, "caff"):
		return "Apple CAF"
	case bytes.HasPrefix(b, []byte("#!")) || isText(b):
		return "text, not audio"
	}
	return "unknown content"
}

// isText reports whether b looks like printable ASCII/UTF-8 text.
func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f {
			return false
		}
	}
	return true
}

// pcmSink collects 8 kHz output, resampling from the source rate if
// needed, and enforces MaxDurationMs as samples arrive.
type pcmSink struct {
	res    *dsp.Resampler
	out    []int16
	buf    []int16
	prefix string
}

func newPCMSink(prefix string, rate int, estimate int64) (*pcmSink, error) {
	s := &pcmSink{prefix: prefix}
	if rate != dsp.SampleRate {
		r, err := dsp.NewResampler(rate)
		if err != nil {
			return nil, errorf(ErrUnsupported, "unsupported format: %s sample rate %d Hz", prefix, rate)
		}
		s.res = r
		// Clamped first: "read to EOF" estimates are near 2^62.
		estimate = min(estimate, 1<<40) * dsp.SampleRate / int64(rate)
	}
	// Preallocate from the estimate only within a modest bound: the
	// estimate comes from a header that may lie.
	s.out = make([]int16, 0, max(0, min(estimate, 1<<20)))
	return s, nil
}

// write appends mono samples at the source rate.
func (s *pcmSink) write(mono []int16) error {
	if s.res == nil {
		s.out = append(s.out, mono...)
	} else {
		need := s.res.MaxOut(len(mono))
		if cap(s.buf) < need {
			s.buf = make([]int16, need)
		}
		n := s.res.Process(s.buf[:need], mono)
		s.out = append(s.out, s.buf[:n]...)
	}
	if len(s.out) > maxSamples {
		return errorf(ErrTooLong, "%s: audio longer than %d minutes", s.prefix, MaxDurationMs/60000)
	}
	return nil
}

// finish flushes the resampler and returns the samples.
func (s *pcmSink) finish() []int16 {
	if s.res != nil {
		tail := make([]int16, 8192) // longer than any filter tail
		n := s.res.Flush(tail)
		s.out = append(s.out, tail[:n]...)
	}
	if len(s.out) > maxSamples {
		s.out = s.out[:maxSamples]
	}
	return s.out
}
