package dsp

import (
	"errors"
	"fmt"

	"github.com/thesyncim/gopus"
)

// Opus on RTP (RFC 7587) always uses a 48 kHz RTP clock whatever the coded
// bandwidth, so one 20 ms packet advances the RTP timestamp by 960 ticks even
// though it decodes to 160 samples here.
const (
	// OpusRTPClockRate is the RTP timestamp rate of every Opus stream.
	OpusRTPClockRate = 48000
	// OpusRTPTicksPerFrame is the RTP timestamp step of one 20 ms packet.
	OpusRTPTicksPerFrame = OpusRTPClockRate * FrameMs / 1000
	// OpusMaxPacketSamples is the longest packet Opus allows (120 ms) at 8 kHz;
	// a pcm buffer this long fits any packet.
	OpusMaxPacketSamples = SampleRate * 120 / 1000
	// OpusMaxPacketBytes is the encoder output size that fits any packet.
	OpusMaxPacketBytes = 1275
	// opusQuantum is the shortest Opus frame (2.5 ms) at 8 kHz; every packet
	// and every concealment length is a multiple of it.
	opusQuantum = SampleRate / 400
)

// Sentinel errors of the Opus codec wrappers; returned errors wrap them with
// %w so callers can use errors.Is.
var (
	// ErrOpusMalformed means the packet is not a decodable Opus packet.
	ErrOpusMalformed = errors.New("dsp: malformed opus packet")
	// ErrOpusShortBuffer means the output buffer cannot hold the result.
	ErrOpusShortBuffer = errors.New("dsp: opus output buffer too small")
	// ErrOpusConcealLength means a concealment length that is not a positive
	// multiple of 2.5 ms up to 120 ms.
	ErrOpusConcealLength = errors.New("dsp: invalid opus concealment length")
	// ErrOpusBitrate means an encoder bitrate outside 6–510 kbit/s.
	ErrOpusBitrate = errors.New("dsp: opus bitrate out of range")
	// ErrOpusFrameSize means encoder input that is not one 20 ms frame.
	ErrOpusFrameSize = errors.New("dsp: opus encoder input must be one 20 ms frame")
	// ErrOpusFEC means an expected-loss percentage outside 0–100.
	ErrOpusFEC = errors.New("dsp: opus fec loss percentage out of range")
	// ErrOpusComplexity means an encoder complexity outside 0–10.
	ErrOpusComplexity = errors.New("dsp: opus complexity out of range")
	// ErrOpusEncode means the encoder refused a frame.
	ErrOpusEncode = errors.New("dsp: opus encode failed")
)

// Decoder turns one codec's packets into 8 kHz mono samples. A Decoder keeps
// state across packets (prediction, concealment), so one stream owns one
// Decoder and only its owner goroutine calls it.
type Decoder interface {
	// Decode writes the samples of one packet (8 kHz mono) into pcm and
	// returns how many it wrote. An empty packet means "lost": it conceals one
	// packet of the last decoded duration.
	Decode(packet []byte, pcm []int16) (int, error)
	// Conceal writes `samples` samples of packet-loss concealment for one
	// lost packet of that duration, continuing the decoder's signal.
	Conceal(pcm []int16, samples int) (int, error)
	// Reset forgets the stream so the decoder can start a new one.
	Reset()
}

// FECDecoder is a Decoder that can rebuild a lost packet from the in-band
// forward error correction (Opus LBRR: a coarser copy of the previous
// frame) that the packet after it carries. Browsers send Opus with in-band
// FEC by default; a receiver that holds one packet back can use it instead
// of concealment. Both Opus decoders implement it; type-assert to use it.
type FECDecoder interface {
	Decoder
	// DecodeFEC writes `samples` samples (the lost packet's duration)
	// recovered from next, the packet received after the loss. It falls
	// back to concealment when next carries no redundancy (or is empty).
	// Decode next itself afterwards as usual.
	DecodeFEC(next []byte, pcm []int16, samples int) (int, error)
}

// OpusHasFEC reports whether packet carries in-band FEC (LBRR) data that
// DecodeFEC could use to rebuild the packet before it.
func OpusHasFEC(packet []byte) bool { return gopus.PacketHasLBRR(packet) }

// opusDecoder is the pure-Go Decoder built on gopus. gopus decodes straight
// at 8 kHz (the SILK/CELT synthesis runs at the API rate), so no resampler
// sits between the codec and the detector, and a stereo packet is downmixed
// by the mono-configured decoder itself.
type opusDecoder struct {
	dec *gopus.Decoder
	// buf receives the float output; sized for the longest packet so the
	// per-packet path never allocates.
	buf [OpusMaxPacketSamples]float32
	// clipMem is the soft-clip continuity state libopus keeps for its int16
	// API; keeping it here makes our int16 output match opus_decode's.
	clipMem [1]float32
	// lastSamples is the duration of the last decoded packet, the length an
	// empty packet conceals (the same rule libopus applies).
	lastSamples int
}

// NewOpusDecoder returns the pure-Go (gopus) Opus Decoder, producing 8 kHz
// mono from packets of any Opus mode, bandwidth, channel count and duration.
// It also implements FECDecoder.
func NewOpusDecoder() (Decoder, error) {
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(SampleRate, 1))
	if err != nil {
		return nil, fmt.Errorf("new opus decoder: %w", err)
	}
	return &opusDecoder{dec: dec}, nil
}

// Decode implements Decoder.
func (d *opusDecoder) Decode(packet []byte, pcm []int16) (int, error) {
	if len(packet) == 0 {
		return d.Conceal(pcm, d.concealSamples())
	}
	// Size the packet from its TOC first so a short pcm buffer is reported
	// before the decoder state moves on.
	want, err := OpusPacketSamples(packet)
	if err != nil {
		return 0, err
	}
	if len(pcm) < want {
		return 0, fmt.Errorf("%w: packet of %d samples, buffer of %d", ErrOpusShortBuffer, want, len(pcm))
	}
	n, err := d.dec.Decode(packet, d.buf[:])
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOpusMalformed, err)
	}
	// libopus soft-clips decoded packets (not concealment) before its int16
	// conversion; doing the same keeps overs from turning into hard clicks.
	gopus.PCMSoftClip(d.buf[:n], 1, d.clipMem[:])
	floatToInt16(pcm[:n], d.buf[:n])
	d.lastSamples = n
	return n, nil
}

// Conceal implements Decoder.
func (d *opusDecoder) Conceal(pcm []int16, samples int) (int, error) {
	if err := checkConceal(pcm, samples); err != nil {
		return 0, err
	}
	n, err := d.dec.Decode(nil, d.buf[:samples])
	if err != nil {
		return 0, fmt.Errorf("opus conceal %d samples: %w", samples, err)
	}
	floatToInt16(pcm[:n], d.buf[:n])
	return n, nil
}

// DecodeFEC implements FECDecoder.
func (d *opusDecoder) DecodeFEC(next []byte, pcm []int16, samples int) (int, error) {
	if len(next) == 0 {
		return d.Conceal(pcm, samples)
	}
	if err := checkConceal(pcm, samples); err != nil {
		return 0, err
	}
	if _, err := OpusPacketSamples(next); err != nil {
		return 0, err
	}
	n, err := d.dec.DecodeWithFEC(next, d.buf[:samples], true)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOpusMalformed, err)
	}
	// libopus returns FEC (like concealment) without soft clipping.
	floatToInt16(pcm[:n], d.buf[:n])
	d.lastSamples = n
	return n, nil
}

// Reset implements Decoder.
func (d *opusDecoder) Reset() {
	d.dec.Reset()
	d.clipMem[0] = 0
	d.lastSamples = 0
}

func (d *opusDecoder) concealSamples() int {
	if d.lastSamples > 0 {
		return d.lastSamples
	}
	return FrameSamples
}

// checkConceal validates a concealment request the same way for every
// Decoder implementation.
func checkConceal(pcm []int16, samples int) error {
	if samples <= 0 || samples > OpusMaxPacketSamples || samples%opusQuantum != 0 {
		return fmt.Errorf("%w: %d samples", ErrOpusConcealLength, samples)
	}
	if len(pcm) < samples {
		return fmt.Errorf("%w: conceal %d samples, buffer of %d", ErrOpusShortBuffer, samples, len(pcm))
	}
	return nil
}

// roundMagic is 1.5·2²³: adding it to a float32 of magnitude below 2²²
// leaves no fraction bits, so the FPU's round-half-to-even does the rounding.
const roundMagic = 12582912

// floatToInt16 converts normalised float samples to int16 the way libopus's
// FLOAT2INT16 does: scale by 32768, saturate, round half to even (lrintf).
// The magic-number rounding is about twice as fast as math.RoundToEven on
// this path (TestOpusFloatToInt16 proves them equal); the explicit float32
// conversions keep the compiler from fusing the two steps.
func floatToInt16(dst []int16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		x := v * 32768
		switch {
		case x >= 32767:
			dst[i] = 32767
		case x <= -32768:
			dst[i] = -32768
		case x != x: // NaN must not reach the integer conversion.
			dst[i] = 0
		default:
			dst[i] = int16(float32(float32(x+roundMagic) - roundMagic))
		}
	}
}

// opusFrameSamples8k is the frame duration of each TOC configuration
// (RFC 6716 §3.1, Table 2) in 8 kHz samples: SILK 10/20/40/60 ms, hybrid
// 10/20 ms, CELT 2.5/5/10/20 ms.
var opusFrameSamples8k = [32]uint16{
	80, 160, 320, 480, 80, 160, 320, 480, 80, 160, 320, 480, // SILK NB/MB/WB
	80, 160, 80, 160, // hybrid SWB/FB
	20, 40, 80, 160, 20, 40, 80, 160, 20, 40, 80, 160, 20, 40, 80, 160, // CELT
}

// OpusPacketSamples returns how many 8 kHz samples a packet decodes to, from
// its TOC byte and frame count (RFC 6716 §3.2), without decoding it. It lets
// callers size buffers and RTP timestamp gaps; it checks framing only as far
// as needed for the count (the decoder checks the rest).
func OpusPacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrOpusMalformed)
	}
	toc := packet[0]
	per := int(opusFrameSamples8k[toc>>3])
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1:
		// Two equal frames: the payload must split evenly (§3.2.3, R3).
		if (len(packet)-1)%2 != 0 {
			return 0, fmt.Errorf("%w: code 1 packet with odd payload", ErrOpusMalformed)
		}
		frames = 2
	case 2:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 2 packet without frame length", ErrOpusMalformed)
		}
		frames = 2
	default:
		if len(packet) < 2 {
			return 0, fmt.Errorf("%w: code 3 packet without frame count", ErrOpusMalformed)
		}
		frames = int(packet[1] & 0x3f)
		if frames == 0 {
			return 0, fmt.Errorf("%w: code 3 packet with zero frames", ErrOpusMalformed)
		}
	}
	n := frames * per
	if n > OpusMaxPacketSamples {
		return 0, fmt.Errorf("%w: packet of %d samples exceeds 120 ms", ErrOpusMalformed, n)
	}
	return n, nil
}

// OpusEncoder encodes 20 ms frames of 8 kHz mono int16 into Opus packets
// (VoIP application, so narrowband SILK as a phone network would send).
// It feeds the fixture generator and the SIP test phone. As on the wire,
// each packet spans OpusRTPTicksPerFrame (960) ticks of the 48 kHz RTP clock.
type OpusEncoder struct {
	enc *gopus.Encoder
}

// NewOpusEncoder returns an encoder at bitrate bit/s (6000–510000).
func NewOpusEncoder(bitrate int) (*OpusEncoder, error) {
	if bitrate < 6000 || bitrate > 510000 {
		return nil, fmt.Errorf("%w: %d bit/s", ErrOpusBitrate, bitrate)
	}
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{
		SampleRate:  SampleRate,
		Channels:    1,
		Application: gopus.ApplicationVoIP,
	})
	if err != nil {
		return nil, fmt.Errorf("new opus encoder: %w", err)
	}
	if err := enc.SetBitrate(bitrate); err != nil {
		return nil, fmt.Errorf("%w: %d bit/s: %w", ErrOpusBitrate, bitrate, err)
	}
	if err := enc.SetFrameSize(FrameSamples); err != nil {
		return nil, fmt.Errorf("opus encoder frame size: %w", err)
	}
	return &OpusEncoder{enc: enc}, nil
}

// Encode encodes one 20 ms frame (FrameSamples samples) into out and returns
// the packet length. OpusMaxPacketBytes of out always suffice.
func (e *OpusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != FrameSamples {
		return 0, fmt.Errorf("%w: got %d samples", ErrOpusFrameSize, len(pcm))
	}
	if len(out) == 0 {
		return 0, fmt.Errorf("%w: empty packet buffer", ErrOpusShortBuffer)
	}
	n, err := e.enc.EncodeInt16(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOpusEncode, err)
	}
	return n, nil
}

// SetFEC makes the encoder add in-band FEC for an expected loss of
// lossPercent (1–100), as a WebRTC sender does; 0 turns it off. The encoder
// only spends bits on redundancy when the bitrate leaves room for it.
func (e *OpusEncoder) SetFEC(lossPercent int) error {
	if lossPercent < 0 || lossPercent > 100 {
		return fmt.Errorf("%w: expected loss %d%%", ErrOpusFEC, lossPercent)
	}
	if err := e.enc.SetPacketLoss(lossPercent); err != nil {
		return fmt.Errorf("%w: %w", ErrOpusFEC, err)
	}
	e.enc.SetFEC(lossPercent > 0)
	return nil
}

// SetComplexity trades encoder CPU for quality, 0 (fastest) to 10 (the
// default). A load generator running many simulated callers wants it low;
// the fixture generator keeps the default.
func (e *OpusEncoder) SetComplexity(complexity int) error {
	if err := e.enc.SetComplexity(complexity); err != nil {
		return fmt.Errorf("%w: %d: %w", ErrOpusComplexity, complexity, err)
	}
	return nil
}

// Reset forgets the encoder's history so it can start a new stream.
func (e *OpusEncoder) Reset() { e.enc.Reset() }

// Both decoders must keep offering FEC; callers find it by type assertion.
var _ FECDecoder = (*opusDecoder)(nil)
