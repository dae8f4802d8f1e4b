package testphone

import (
	"errors"
	"math"
	"testing"
)

func TestLoadWAVEncodings(t *testing.T) {
	t.Parallel()
	ref, err := LoadWAV("../testdata/tones_pcm16.wav")
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 9600 {
		t.Fatalf("pcm16: %d samples, want 9600", len(ref))
	}
	for _, f := range []string{"../testdata/tones_ulaw.wav", "../testdata/tones_alaw.wav"} {
		got, err := LoadWAV(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ref) {
			t.Fatalf("%s: %d samples", f, len(got))
		}
		// G.711 is within a few percent of the linear original.
		var diff, energy float64
		for i := range ref {
			d := float64(got[i]) - float64(ref[i])
			diff += d * d
			energy += float64(ref[i]) * float64(ref[i])
		}
		if snr := 10 * math.Log10(energy/diff); snr < 30 {
			t.Errorf("%s: SNR %.1f dB vs pcm16", f, snr)
		}
	}
}

func TestParseWAVRejects(t *testing.T) {
	t.Parallel()
	hdr := func(format, ch uint16, rate uint32, bits uint16) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
		le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
		le32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
		le16(format)
		le16(ch)
		le32(rate)
		le32(rate * uint32(ch) * uint32(bits) / 8)
		le16(ch * bits / 8)
		le16(bits)
		b = append(b, "data\x04\x00\x00\x00\x01\x02\x03\x04"...)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"pcm16 8k mono", hdr(1, 1, 8000, 16), true},
		{"stereo", hdr(1, 2, 8000, 16), false},
		{"16 kHz", hdr(1, 1, 16000, 16), false},
		{"float", hdr(3, 1, 8000, 32), false},
		{"not riff", []byte("hello"), false},
		{"no data", hdr(1, 1, 8000, 16)[:36], false},
	} {
		_, err := ParseWAV(tc.b)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrWAV)) {
			t.Errorf("%s: err %v", tc.name, err)
		}
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x04\x00\x00\x00\x01\x02\x03\x04"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x12\x00\x00\x00\x07\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00\x00\x00data\xff\xff\xff\xff\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := ParseWAV(b)
		if err != nil {
			if !errors.Is(err, ErrWAV) {
				t.Fatalf("error not wrapping ErrWAV: %v", err)
			}
			return
		}
		if len(pcm) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
	})
}
