package audiofile

import (
	"bytes"
	"testing"
)

// The fuzz targets feed arbitrary bytes to Decode and check the contract:
// no panic, errors that wrap one sentinel in one line, successful decodes
// within the duration cap and self-consistent. Allocation is bounded by
// design (nothing is sized from a header before its bytes are read; audio
// stops at maxSamples), which the fuzzer's memory limit keeps honest.

func fuzzDecode(t *testing.T, data []byte) {
	a, err := decodeBytes(data)
	if err != nil {
		checkErr(t, err)
		return
	}
	if len(a.Samples) == 0 || len(a.Samples) > maxSamples {
		t.Fatalf("decoded %d samples (cap %d)", len(a.Samples), maxSamples)
	}
	if a.DurationMs != int64(len(a.Samples))*1000/8000 {
		t.Fatalf("DurationMs %d for %d samples", a.DurationMs, len(a.Samples))
	}
	if a.Format == "" || a.SourceRate <= 0 || a.Channels <= 0 {
		t.Fatalf("incomplete metadata %+v", *a)
	}
}

func FuzzWAV(f *testing.F) {
	s := sineAt(8000, 440, 8000, 200)
	for _, enc := range []Encoding{PCM16, Mulaw, Alaw} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, s, 8000, enc); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(riff(chunk("fmt ", extFmtBody(wavTagPCM, 2, 44100, 16)), chunk("LIST", []byte("INFOx")), chunk("data", pcmBytes(stereo(s, s)))))
	f.Add(riff(chunk("fmt ", fmtBody(wavTagPCM, 1, 16000, 16)), lyingChunk("data", 0xFFFFFFFF, pcmBytes(s))))
	f.Fuzz(fuzzDecode)
}

func FuzzOgg(f *testing.F) {
	pkts := opusPackets(f, sineAt(8000, 440, 8000, 800))
	f.Add(oggFile(f, pkts, 312))
	f.Add(oggFile(f, pkts[:1], 0))
	f.Add(oggPage([]byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00"), 0x02, 1, 0))
	f.Fuzz(fuzzDecode)
}

func FuzzPcap(f *testing.F) {
	enc := make([]byte, 80)
	var g711 [][]byte
	for i := range 6 {
		g711 = append(g711, rtpBytes(f, 0, uint16(65533+i), uint32(i*80), 9, enc))
	}
	pkts := opusPackets(f, sineAt(8000, 440, 8000, 800))
	var opus [][]byte
	for i, p := range pkts {
		opus = append(opus, rtpBytes(f, 111, uint16(i), uint32(i*960), 3, p))
	}
	f.Add(buildCapture(capVariant{link: linkEthernet}, g711))
	f.Add(buildCapture(capVariant{link: linkSLL, bigEndian: true, nano: true}, g711))
	f.Add(buildCapture(capVariant{ng: true, link: linkEthernet, ipv6: true}, g711))
	f.Add(buildCapture(capVariant{ng: true, spb: true, link: linkRaw}, opus))
	f.Add(buildCapture(capVariant{link: linkNull}, opus))
	f.Fuzz(fuzzDecode)
}
