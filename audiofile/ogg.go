package audiofile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"

	"github.com/thesyncim/gopus/container/ogg"

	"github.com/amd-engine/amd/dsp"
)

// maxOggBytes bounds how much of an Ogg file is read: 30 minutes of Opus
// at its 510 kbit/s maximum is ~115 MB. The demuxer buffers a page until it
// parses, so this also bounds memory on garbage input. A variable only so
// tests can reach it.
var maxOggBytes int64 = 256 << 20

const (
	// opusDecimation is 48 kHz (Opus granule clock) / 8 kHz.
	opusDecimation = 48000 / dsp.SampleRate
)

// decodeOgg demuxes Ogg Opus and decodes it to 8 kHz mono, honouring the
// header's pre-skip and the end trimming given by the last granule position.
func decodeOgg(r *bufio.Reader) (*Audio, error) {
	head, _ := r.Peek(sniffLen)
	if codec := oggCodec(head); codec != "Opus" {
		if codec == "" {
			return nil, errorf(ErrTruncated, "ogg: truncated first page")
		}
		return nil, errorf(ErrUnsupported, "unsupported format: Ogg %s", codec)
	}
	// Refuse multichannel streams from the first page alone, before the
	// demuxer wants the comment header too.
	if h, err := ogg.ParseOpusHead(head[27+int(head[26]):]); err == nil && (h.MappingFamily != 0 || h.Channels > 2) {
		return nil, errorf(ErrUnsupported, "unsupported format: Ogg Opus with %d channels (mapping family %d)", h.Channels, h.MappingFamily)
	}
	or, err := ogg.NewReader(&capReader{r: r, left: maxOggBytes})
	if err != nil {
		return nil, oggError(err, "ogg: reading Opus headers")
	}
	h := or.Header
	if h.MappingFamily != 0 || h.Channels > 2 {
		return nil, errorf(ErrUnsupported, "unsupported format: Ogg Opus with %d channels (mapping family %d)", h.Channels, h.MappingFamily)
	}
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		return nil, err
	}
	preSkip := int(h.PreSkip) / opusDecimation // at 8 kHz
	out := make([]int16, 0, 1<<16)
	pcm := make([]int16, dsp.OpusMaxPacketSamples)
	pkt := make([]byte, 1<<16)
	var (
		decoded, bad  int
		lastGranule   uint64
		ended         bool
		truncatedRead bool
	)
	for {
		n, granule, err := or.ReadPacketInto(pkt)
		if errors.Is(err, io.EOF) {
			ended = or.EOF()
			if !ended {
				truncatedRead = true
			}
			break
		}
		if errors.Is(err, ogg.ErrPacketTooLarge) {
			bad++
			continue
		}
		if errors.Is(err, errOggCap) {
			return nil, errorf(ErrTooLong, "ogg: file larger than %d MB", maxOggBytes>>20)
		}
		if err != nil {
			if decoded == 0 {
				return nil, oggError(err, "ogg: reading audio page")
			}
			// A damaged or cut tail: keep the audio before it, as a
			// player would.
			truncatedRead = true
			break
		}
		if granule != 0 && granule != ^uint64(0) {
			lastGranule = granule
		}
		var got int
		if got, err = dec.Decode(pkt[:n], pcm); err != nil {
			// One bad packet in a file costs 20 ms of concealment, not the
			// whole recording.
			bad++
			got, err = dec.Conceal(pcm, dsp.FrameSamples)
			if err != nil {
				return nil, err
			}
		} else {
			decoded++
		}
		out = append(out, pcm[:got]...)
		if len(out) > maxSamples+preSkip {
			return nil, errorf(ErrTooLong, "ogg: audio longer than %d minutes", MaxDurationMs/60000)
		}
	}
	if decoded == 0 {
		if bad > 0 {
			return nil, errorf(ErrCorrupt, "ogg: none of %d Opus packets decodes", bad)
		}
		if truncatedRead {
			return nil, errorf(ErrTruncated, "ogg: truncated before the first audio packet")
		}
		return nil, errorf(ErrEmpty, "ogg: no audio packets")
	}
	// RFC 7845 §4.5: the last page's granule position gives the exact end;
	// trimming to it drops the encoder's padding of the final packet.
	if ended && !truncatedRead && lastGranule > uint64(h.PreSkip) {
		if end := int(min(lastGranule/opusDecimation, uint64(len(out)))); end >= preSkip {
			out = out[:end]
		}
	}
	if preSkip >= len(out) {
		return nil, errorf(ErrEmpty, "ogg: no audio after the %d-sample pre-skip", h.PreSkip)
	}
	out = out[preSkip:]
	if h.OutputGain != 0 {
		// RFC 7845 §5.1: the header's gain (Q7.8 dB) is part of the signal.
		applyGain(out, math.Pow(10, float64(h.OutputGain)/(256*20)))
	}
	return &Audio{
		Samples:    out,
		Format:     FormatOggOpus,
		SourceRate: 48000,
		Channels:   int(h.Channels),
	}, nil
}

// errOggCap marks the end of the bytes we agree to read, so hitting the
// cap is reported as such instead of passing for a truncated file.
var errOggCap = errors.New("ogg: read cap reached")

type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errOggCap
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// oggCodec names the codec of the first logical stream from its BOS page,
// or "" if the page is cut short.
func oggCodec(b []byte) string {
	if len(b) < 27 {
		return ""
	}
	payload := 27 + int(b[26])
	if len(b) < payload+8 {
		return ""
	}
	p := b[payload:]
	switch {
	case bytes.HasPrefix(p, []byte("OpusHead")):
		return "Opus"
	case bytes.HasPrefix(p, []byte("\x01vorbis")):
		return "Vorbis"
	case bytes.HasPrefix(p, []byte("Speex   ")):
		return "Speex"
	case bytes.HasPrefix(p, []byte("\x7fFLAC")):
		return "FLAC"
	case bytes.HasPrefix(p, []byte("\x80theora")):
		return "Theora (video)"
	}
	return "with an unknown codec"
}

// oggError maps the demuxer's errors onto our sentinels.
func oggError(err error, msg string) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ogg.ErrUnexpectedEOS):
		return errorf(ErrTruncated, "%s: unexpected end of file", msg)
	case errors.Is(err, ogg.ErrBadCRC):
		return errorf(ErrCorrupt, "%s: page checksum mismatch", msg)
	case errors.Is(err, ogg.ErrInvalidHeader):
		return errorf(ErrCorrupt, "%s: invalid Opus header", msg)
	case errors.Is(err, ogg.ErrInvalidPage):
		return errorf(ErrCorrupt, "%s: invalid page", msg)
	}
	return wrapIO(ErrCorrupt, err, "%s", msg)
}

// applyGain scales s in place with rounding and clipping.
func applyGain(s []int16, g float64) {
	for i, v := range s {
		x := math.Round(float64(v) * g)
		s[i] = int16(max(math.MinInt16, min(math.MaxInt16, x)))
	}
}
