package audiofile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"

	"github.com/amd-engine/amd/dsp"
)

// WAVE format tags (mmreg.h).
const (
	wavTagPCM        = 0x0001
	wavTagFloat      = 0x0003
	wavTagALaw       = 0x0006
	wavTagMuLaw      = 0x0007
	wavTagExtensible = 0xFFFE
)

// WAV limits.
const (
	// maxFmtSize bounds the fmt chunk: the largest real one (extensible) is
	// 40 bytes; anything far beyond is a lie we refuse rather than allocate.
	maxFmtSize = 1024
	// maxWAVChannels bounds the channel count we average.
	maxWAVChannels = 32
	// wavBlockFrames is how many frames are converted per read.
	wavBlockFrames = 4096
	// sizeUnknown is what streaming writers put in size fields they could
	// not go back and patch.
	sizeUnknown = 0xFFFFFFFF
)

// ksdataformatSubtypeTail is the fixed part of the KSDATAFORMAT_SUBTYPE_*
// GUIDs whose first two bytes carry the plain format tag.
var ksdataformatSubtypeTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

type wavFmt struct {
	tag        uint16
	channels   int
	rate       int
	blockAlign int
	bits       int
}

// decodeWAV parses RIFF/WAVE from r. size is the total input size or -1.
func decodeWAV(r *bufio.Reader, size int64) (*Audio, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, errorf(ErrTruncated, "wav: truncated RIFF header")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, errorf(ErrUnsupported, "unsupported format: RIFF form %q", hdr[8:12])
	}
	riffSize := binary.LittleEndian.Uint32(hdr[4:])
	pos := int64(12)
	var f *wavFmt
	for {
		var ch [8]byte
		n, err := io.ReadFull(r, ch[:])
		if n == 0 && errors.Is(err, io.EOF) {
			if f == nil {
				return nil, errorf(ErrTruncated, "wav: no fmt chunk")
			}
			return nil, errorf(ErrTruncated, "wav: no data chunk")
		}
		if err != nil {
			return nil, errorf(ErrTruncated, "wav: truncated chunk header")
		}
		pos += 8
		id, sz := string(ch[:4]), int64(binary.LittleEndian.Uint32(ch[4:]))
		switch id {
		case "fmt ":
			if f != nil {
				return nil, errorf(ErrCorrupt, "wav: second fmt chunk")
			}
			if sz < 16 {
				return nil, errorf(ErrCorrupt, "wav: fmt chunk too short (%d bytes)", sz)
			}
			if sz > maxFmtSize {
				return nil, errorf(ErrCorrupt, "wav: fmt chunk size %d is implausible", sz)
			}
			buf := make([]byte, sz)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, errorf(ErrTruncated, "wav: truncated fmt chunk")
			}
			pos += sz
			if f, err = parseWAVFmt(buf); err != nil {
				return nil, err
			}
			if sz&1 == 1 && !padMissing(r) {
				// The pad byte may be missing at the very end of a file;
				// that surfaces later as a missing data chunk.
				_, _ = r.Discard(1)
				pos++
			}
		case "data":
			if f == nil {
				return nil, errorf(ErrCorrupt, "wav: data chunk before fmt chunk")
			}
			return readWAVData(r, f, sz, riffSize, size, pos)
		default:
			// LIST, fact, cue, bext, JUNK, PAD, id3 … or anything unknown:
			// skip it (and its pad byte) without buffering it.
			got, _ := r.Discard(int(min(sz, 1<<62)))
			pos += int64(got)
			skip := sz
			if got == int(sz) && sz&1 == 1 && !padMissing(r) {
				skip++
				if n, _ := r.Discard(1); n == 1 {
					got++
					pos++
				}
			}
			if int64(got) < skip {
				if int64(got) == sz && f != nil {
					// Only the pad byte is missing; the file still ends
					// without a data chunk.
					return nil, errorf(ErrTruncated, "wav: no data chunk")
				}
				return nil, errorf(ErrTruncated, "wav: truncated %s chunk", printableID(ch[:4]))
			}
		}
	}
}

func parseWAVFmt(b []byte) (*wavFmt, error) {
	le := binary.LittleEndian
	f := &wavFmt{
		tag:        le.Uint16(b[0:]),
		channels:   int(le.Uint16(b[2:])),
		rate:       int(le.Uint32(b[4:])),
		blockAlign: int(le.Uint16(b[12:])),
		bits:       int(le.Uint16(b[14:])),
	}
	if f.tag == wavTagExtensible {
		// WAVE_FORMAT_EXTENSIBLE: cbSize(2) validBits(2) channelMask(4)
		// subFormat GUID(16); the GUID's first two bytes are the real tag.
		if len(b) < 40 {
			return nil, errorf(ErrCorrupt, "wav: extensible fmt chunk too short (%d bytes)", len(b))
		}
		var tail [14]byte
		copy(tail[:], b[26:40])
		if tail != ksdataformatSubtypeTail {
			return nil, errorf(ErrUnsupported, "unsupported format: WAV extensible sub-format GUID % x", b[24:40])
		}
		f.tag = le.Uint16(b[24:])
	}
	switch {
	case f.channels == 0:
		return nil, errorf(ErrCorrupt, "wav: zero channels")
	case f.channels > maxWAVChannels:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV with %d channels", f.channels)
	case f.rate == 0:
		return nil, errorf(ErrCorrupt, "wav: zero sample rate")
	}
	switch f.tag {
	case wavTagPCM:
		switch f.bits {
		case 8, 16, 24, 32:
		default:
			return nil, errorf(ErrUnsupported, "unsupported format: WAV PCM %d-bit", f.bits)
		}
	case wavTagFloat:
		if f.bits != 32 && f.bits != 64 {
			return nil, errorf(ErrUnsupported, "unsupported format: WAV float %d-bit", f.bits)
		}
	case wavTagMuLaw, wavTagALaw:
		if f.bits != 8 {
			return nil, errorf(ErrCorrupt, "wav: G.711 with %d bits per sample", f.bits)
		}
	case 0x0011:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV IMA ADPCM")
	case 0x0002:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV MS ADPCM")
	case 0x0031:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV GSM 6.10")
	case 0x0055:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV MP3")
	default:
		return nil, errorf(ErrUnsupported, "unsupported format: WAV format tag 0x%04x", f.tag)
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		return nil, errorf(ErrCorrupt, "wav: block align %d, want %d for %d channels of %d bits", f.blockAlign, want, f.channels, f.bits)
	}
	return f, nil
}

// readWAVData converts the data chunk. dataSize and riffSize are the header
// claims; size is the input size (or -1) and pos the offset of the data.
func readWAVData(r *bufio.Reader, f *wavFmt, dataSize int64, riffSize uint32, size, pos int64) (*Audio, error) {
	// Streaming writers leave 0xFFFFFFFF (or 0, with an unpatched RIFF
	// size) in the data size; a size past the end of the file is the same
	// lie. In every case the audio is simply what is there.
	toEOF := dataSize == sizeUnknown || (dataSize == 0 && (riffSize == 0 || riffSize == sizeUnknown))
	var src io.Reader = r
	avail := dataSize
	if toEOF {
		avail = 1 << 62
	} else {
		src = io.LimitReader(r, dataSize)
	}
	if size >= 0 {
		avail = min(avail, size-pos)
	}
	var format Format
	switch f.tag {
	case wavTagMuLaw:
		format = FormatWAVMulaw
	case wavTagALaw:
		format = FormatWAVAlaw
	case wavTagFloat:
		format = FormatWAVFloat
	default:
		format = map[int]Format{8: FormatWAVPCM8, 16: FormatWAVPCM16, 24: FormatWAVPCM24, 32: FormatWAVPCM32}[f.bits]
	}
	sink, err := newPCMSink("wav", f.rate, avail/int64(f.blockAlign))
	if err != nil {
		return nil, err
	}
	raw := make([]byte, wavBlockFrames*f.blockAlign)
	mono := make([]int16, wavBlockFrames)
	frames := int64(0)
	for {
		n, err := io.ReadFull(src, raw)
		nf := n / f.blockAlign
		if nf > 0 {
			toMono(mono[:nf], raw[:nf*f.blockAlign], f)
			if werr := sink.write(mono[:nf]); werr != nil {
				return nil, werr
			}
			frames += int64(nf)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			return nil, wrapIO(ErrTruncated, err, "wav: reading data")
		}
	}
	if frames == 0 {
		return nil, errorf(ErrEmpty, "wav: data chunk is empty")
	}
	return &Audio{
		Samples:    sink.finish(),
		Format:     format,
		SourceRate: f.rate,
		Channels:   f.channels,
	}, nil
}

// toMono decodes interleaved frames and averages the channels.
func toMono(dst []int16, raw []byte, f *wavFmt) {
	ch := f.channels
	if f.tag == wavTagPCM && f.bits == 16 && ch == 1 {
		// The common case, without the per-sample dispatch.
		for i := range dst {
			dst[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return
	}
	bps := f.bits / 8
	for i := range dst {
		fr := raw[i*ch*bps : (i+1)*ch*bps]
		sum := 0
		for c := 0; c < ch; c++ {
			sum += int(sampleAt(fr[c*bps:], f))
		}
		dst[i] = int16(sum / ch)
	}
}

// sampleAt converts one sample of any supported encoding to int16.
// Deeper PCM is truncated to its top 16 bits (the detector cannot use
// more); float is clipped to full scale.
func sampleAt(b []byte, f *wavFmt) int16 {
	le := binary.LittleEndian
	switch f.tag {
	case wavTagMuLaw:
		return dsp.MulawToLinear(b[0])
	case wavTagALaw:
		return dsp.AlawToLinear(b[0])
	case wavTagFloat:
		var v float64
		if f.bits == 32 {
			v = float64(math.Float32frombits(le.Uint32(b)))
		} else {
			v = math.Float64frombits(le.Uint64(b))
		}
		v = math.Round(v * 32768)
		switch {
		case v >= math.MaxInt16:
			return math.MaxInt16
		case v <= math.MinInt16:
			return math.MinInt16
		case v != v: // NaN
			return 0
		}
		return int16(v)
	}
	switch f.bits {
	case 8:
		return int16(b[0]-128) << 8 // 8-bit WAV is unsigned
	case 24:
		return int16(le.Uint16(b[1:]))
	case 32:
		return int16(le.Uint16(b[2:]))
	}
	return int16(le.Uint16(b))
}

// padMissing reports whether a writer left out the pad byte after an
// odd-sized chunk: the next bytes already spell a chunk id we know, while
// skipping one byte would not. (Several tools get the padding wrong.)
func padMissing(r *bufio.Reader) bool {
	b, err := r.Peek(5)
	if err != nil || len(b) < 5 {
		return false
	}
	return knownChunkID(b[:4]) && !knownChunkID(b[1:5])
}

func knownChunkID(id []byte) bool {
	switch string(id) {
	case "data", "fmt ", "LIST", "fact", "cue ", "bext", "JUNK", "PAD ", "id3 ", "ID3 ", "smpl", "inst", "iXML", "acid", "PEAK", "minf", "elm1", "regn", "umid", "DISP", "FLLR":
		return true
	}
	return false
}

// printableID renders a chunk id for a message, escaping junk bytes.
func printableID(id []byte) string {
	for _, c := range id {
		if c < 0x20 || c > 0x7e {
			return "chunk id " + hexBytes(id)
		}
	}
	return "'" + string(id) + "'"
}

func hexBytes(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
