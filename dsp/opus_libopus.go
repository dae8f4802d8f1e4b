//go:build libopus

package dsp

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// libopusDecoder is the cgo twin of opusDecoder over the system libopus. It
// exists so a differential test can hold the pure-Go decoder to the
// reference implementation; production builds do not carry it.
type libopusDecoder struct {
	dec *opus.Decoder
	// lastSamples mirrors opusDecoder: an empty packet conceals one packet
	// of the last decoded duration.
	lastSamples int
}

// NewLibopusDecoder returns a Decoder over libopus (cgo, build tag libopus)
// decoding at 8 kHz mono; it also implements FECDecoder.
func NewLibopusDecoder() (Decoder, error) {
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("new libopus decoder: %w", err)
	}
	return &libopusDecoder{dec: dec}, nil
}

// Decode implements Decoder.
func (d *libopusDecoder) Decode(packet []byte, pcm []int16) (int, error) {
	if len(packet) == 0 {
		n := d.lastSamples
		if n == 0 {
			n = FrameSamples
		}
		return d.Conceal(pcm, n)
	}
	want, err := OpusPacketSamples(packet)
	if err != nil {
		return 0, err
	}
	if len(pcm) < want {
		return 0, fmt.Errorf("%w: packet of %d samples, buffer of %d", ErrOpusShortBuffer, want, len(pcm))
	}
	// opus_decode takes the buffer capacity as its frame-size limit; cap it
	// at the packet so a caller's larger buffer cannot change the outcome.
	n, err := d.dec.Decode(packet, pcm[:want:want])
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOpusMalformed, err)
	}
	d.lastSamples = n
	return n, nil
}

// Conceal implements Decoder.
func (d *libopusDecoder) Conceal(pcm []int16, samples int) (int, error) {
	if err := checkConceal(pcm, samples); err != nil {
		return 0, err
	}
	// libopus conceals exactly cap(pcm) samples; the three-index slice
	// pins that to the request.
	if err := d.dec.DecodePLC(pcm[:samples:samples]); err != nil {
		return 0, fmt.Errorf("libopus conceal %d samples: %w", samples, err)
	}
	return samples, nil
}

// DecodeFEC implements FECDecoder.
func (d *libopusDecoder) DecodeFEC(next []byte, pcm []int16, samples int) (int, error) {
	if len(next) == 0 {
		return d.Conceal(pcm, samples)
	}
	if err := checkConceal(pcm, samples); err != nil {
		return 0, err
	}
	if _, err := OpusPacketSamples(next); err != nil {
		return 0, err
	}
	// As for concealment, libopus recovers exactly cap(pcm) samples.
	if err := d.dec.DecodeFEC(next, pcm[:samples:samples]); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrOpusMalformed, err)
	}
	d.lastSamples = samples
	return samples, nil
}

// Reset implements Decoder. hraban/opus exposes no OPUS_RESET_STATE, so a
// fresh decoder replaces the old one; Reset is not on the per-packet path.
func (d *libopusDecoder) Reset() {
	d.lastSamples = 0
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		// Same arguments succeeded at construction; keep the old decoder
		// rather than leave a nil one behind.
		return
	}
	d.dec = dec
}

var _ FECDecoder = (*libopusDecoder)(nil)
