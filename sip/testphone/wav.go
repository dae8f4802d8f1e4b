package testphone

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/amd-engine/amd/dsp"
)

// ErrWAV is wrapped by every WAV parsing error.
var ErrWAV = errors.New("testphone: unsupported wav")

// WAV format tags we read.
const (
	wavPCM        = 1
	wavAlaw       = 6
	wavMulaw      = 7
	wavExtensible = 0xFFFE
	maxWAVSamples = 8000 * 60 * 10 // ten minutes is more than any greeting
)

// LoadWAV reads an 8 kHz mono WAV (PCM16, μ-law or A-law) into samples.
// Other rates and channel counts are refused with a hint to resample
// (sox in.wav -r 8000 -c 1 out.wav) rather than resampled badly here.
func LoadWAV(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testphone: %w", err)
	}
	pcm, err := ParseWAV(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, nil
}

// ParseWAV decodes a WAV file held in memory.
func ParseWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file", ErrWAV)
	}
	var (
		format, channels, bits uint16
		rate                   uint32
		haveFmt                bool
	)
	p := b[12:]
	for len(p) >= 8 {
		id := string(p[0:4])
		size := binary.LittleEndian.Uint32(p[4:8])
		p = p[8:]
		if uint64(size) > uint64(len(p)) {
			if id != "data" {
				return nil, fmt.Errorf("%w: chunk %q overruns the file", ErrWAV, id)
			}
			size = uint32(len(p)) // streaming writers leave data size unset
		}
		body := p[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("%w: short fmt chunk", ErrWAV)
			}
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if format == wavExtensible {
				if size < 26 {
					return nil, fmt.Errorf("%w: short extensible fmt chunk", ErrWAV)
				}
				format = binary.LittleEndian.Uint16(body[24:26]) // sub-format GUID's first two bytes
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			if channels != 1 || rate != dsp.SampleRate {
				return nil, fmt.Errorf("%w: %d Hz %d channels; want 8000 Hz mono (sox in.wav -r 8000 -c 1 out.wav)", ErrWAV, rate, channels)
			}
			return decodeWAVData(format, bits, body)
		}
		p = p[size:]
		if size%2 == 1 && len(p) > 0 {
			p = p[1:] // chunks are word aligned
		}
	}
	return nil, fmt.Errorf("%w: no data chunk", ErrWAV)
}

func decodeWAVData(format, bits uint16, data []byte) ([]int16, error) {
	switch {
	case format == wavPCM && bits == 16:
		n := min(len(data)/2, maxWAVSamples)
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return out, nil
	case format == wavMulaw && bits == 8:
		data = data[:min(len(data), maxWAVSamples)]
		out := make([]int16, len(data))
		dsp.DecodeMulaw(out, data)
		return out, nil
	case format == wavAlaw && bits == 8:
		data = data[:min(len(data), maxWAVSamples)]
		out := make([]int16, len(data))
		dsp.DecodeAlaw(out, data)
		return out, nil
	}
	return nil, fmt.Errorf("%w: format %d with %d bits; want PCM16, μ-law or A-law", ErrWAV, format, bits)
}
