package webrtcleg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/amd-engine/amd/dsp"
	"github.com/pion/rtp"
)

// fakeDecoder makes the receiver's bookkeeping visible: a packet decodes
// to payload[0]×20 samples (2.5 ms units) of value payload[1]; concealment
// writes -1, FEC -2. A payload starting with 0xff is undecodable.
type fakeDecoder struct{}

func (fakeDecoder) Decode(p []byte, pcm []int16) (int, error) {
	if p[0] == 0xff || len(p) < 2 {
		return 0, errors.New("undecodable")
	}
	n := int(p[0]) * 20
	if n > len(pcm) {
		return 0, errors.New("too long")
	}
	for i := range n {
		pcm[i] = int16(p[1])
	}
	return n, nil
}

func (fakeDecoder) Conceal(pcm []int16, n int) (int, error) {
	for i := range n {
		pcm[i] = -1
	}
	return n, nil
}

func (fakeDecoder) DecodeFEC(_ []byte, pcm []int16, n int) (int, error) {
	for i := range n {
		pcm[i] = -2
	}
	return n, nil
}

func (fakeDecoder) Reset() {}

type pkt struct {
	seq     uint16
	ts      uint32
	payload []byte
}

func rawRTP(t testing.TB, p pkt) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 7}, Payload: p.payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReceiver walks the per-packet rules with a decoder whose output
// says where each sample came from.
func TestReceiver(t *testing.T) {
	const f = 8 // payload[0] for one 20 ms packet (8 × 2.5 ms)
	tests := []struct {
		name    string
		packets []pkt
		// want is the frames' content as runs: value×samples, in order.
		want string
		cnt  Stats
	}{
		{"in order", []pkt{{10, 0, []byte{f, 1}}, {11, 960, []byte{f, 2}}}, "1×160 2×160", Stats{Packets: 2}},
		{"wraps", []pkt{{65535, 0, []byte{f, 1}}, {0, 960, []byte{f, 2}}}, "1×160 2×160", Stats{Packets: 2}},
		{"one lost: FEC rebuilds it", []pkt{{1, 0, []byte{f, 1}}, {3, 1920, []byte{f, 3}}}, "1×160 -2×160 3×160", Stats{Packets: 2, Lost: 1, Concealed: 160}},
		{"three lost: PLC then FEC", []pkt{{1, 0, []byte{f, 1}}, {5, 3840, []byte{f, 5}}}, "1×160 -1×320 -2×160 5×160", Stats{Packets: 2, Lost: 3, Concealed: 480}},
		{"late and duplicate dropped", []pkt{{5, 0, []byte{f, 1}}, {6, 960, []byte{f, 2}}, {5, 0, []byte{f, 9}}, {6, 960, []byte{f, 9}}, {7, 1920, []byte{f, 3}}}, "1×160 2×160 3×160", Stats{Packets: 5, Late: 2}},
		{"huge jump resyncs without concealing", []pkt{{1, 0, []byte{f, 1}}, {1001, 960000, []byte{f, 2}}}, "1×160 2×160", Stats{Packets: 2, Lost: 999}},
		{"dtx pause becomes silence", []pkt{{1, 0, []byte{f, 1}}, {2, 960 * 4, []byte{f, 2}}}, "1×160 0×480 2×160", Stats{Packets: 2, Concealed: 480}},
		{"10 ms packets pair up", []pkt{{1, 0, []byte{4, 1}}, {2, 480, []byte{4, 2}}, {3, 960, []byte{4, 3}}}, "1×80 2×80", Stats{Packets: 3}},
		{"60 ms packet splits", []pkt{{1, 0, []byte{24, 1}}}, "1×480", Stats{Packets: 1}},
		{"undecodable packet concealed", []pkt{{1, 0, []byte{f, 1}}, {2, 960, []byte{0xff, 0}}, {3, 1920, []byte{f, 3}}}, "1×160 -1×160 3×160", Stats{Packets: 3, DecodeErrors: 1}},
		{"empty payload ignored", []pkt{{1, 0, []byte{f, 1}}, {2, 960, nil}, {2, 960, []byte{f, 2}}}, "1×160 2×160", Stats{Packets: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cnt counters
			var out []int16
			r := newReceiver(fakeDecoder{}, &cnt, func(fr *[dsp.FrameSamples]int16) { out = append(out, fr[:]...) })
			for _, p := range tc.packets {
				_ = r.push(rawRTP(t, p))
			}
			if got := runs(out); got != tc.want {
				t.Errorf("frames %q, want %q", got, tc.want)
			}
			got := Stats{Packets: cnt.packets.Load(), Lost: cnt.lost.Load(), Late: cnt.late.Load(), DecodeErrors: cnt.decodeErrors.Load(), Concealed: cnt.concealed.Load()}
			if got != tc.cnt {
				t.Errorf("counters %+v, want %+v", got, tc.cnt)
			}
		})
	}
}

func TestReceiverMalformed(t *testing.T) {
	var cnt counters
	r := newReceiver(fakeDecoder{}, &cnt, func(*[dsp.FrameSamples]int16) { t.Error("frame from garbage") })
	for _, b := range [][]byte{nil, {0x80}, {0x80, 111, 0, 1, 0, 0, 0}} {
		if err := r.push(b); !errors.Is(err, ErrBadPacket) {
			t.Errorf("push(%x) = %v, want ErrBadPacket", b, err)
		}
	}
	if cnt.malformed.Load() != 3 {
		t.Errorf("malformed %d, want 3", cnt.malformed.Load())
	}
}

// runs renders samples as "value×count" runs.
func runs(s []int16) string {
	out := ""
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%d×%d", s[i], j-i)
		i = j
	}
	return out
}

// FuzzReceiverPush: any bytes from the network, in any order, through the
// real Opus decoder, must leave the receiver consistent: no panic, frames
// always whole, output bounded by what the gap rules allow.
func FuzzReceiverPush(f *testing.F) {
	f.Add(rawRTP(f, pkt{1, 0, []byte{8, 1}}), rawRTP(f, pkt{3, 1920, []byte{8, 2}}))
	f.Add(rawRTP(f, pkt{1, 0, []byte{48, 1}}), rawRTP(f, pkt{1, 0xffffff00, []byte{1, 2}}))
	f.Add([]byte{0x80, 0x6f, 0, 1}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		dec, err := dsp.NewOpusDecoder()
		if err != nil {
			t.Fatal(err)
		}
		var cnt counters
		frames := 0
		r := newReceiver(dec, &cnt, func(*[dsp.FrameSamples]int16) { frames++ })
		for _, p := range [][]byte{a, b, a} {
			_ = r.push(p)
		}
		if r.fill < 0 || r.fill >= dsp.FrameSamples {
			t.Fatalf("partial frame fill %d", r.fill)
		}
		// 3 packets: at most 3×120 ms decoded, 2×(maxGap packets of the last
		// duration) concealed, 3×maxSilence.
		limit := 3*dsp.OpusMaxPacketSamples + 2*maxGapPackets*dsp.OpusMaxPacketSamples + 3*maxSilenceSamples
		if frames*dsp.FrameSamples > limit {
			t.Fatalf("%d frames from 3 packets", frames)
		}
	})
}

// BenchmarkReceiverPush is the per-packet path with the real Opus decoder:
// parse into the reused packet, decode into the reused buffer, frame.
// Must report 0 allocs/op.
func BenchmarkReceiverPush(b *testing.B) {
	pkts := benchPackets(b)
	dec, err := dsp.NewOpusDecoder()
	if err != nil {
		b.Fatal(err)
	}
	var cnt counters
	frames := 0
	r := newReceiver(dec, &cnt, func(*[dsp.FrameSamples]int16) { frames++ })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Renumber in place so every lap continues the stream (no resync).
		p := pkts[i%len(pkts)]
		binary.BigEndian.PutUint16(p[2:], uint16(i))
		binary.BigEndian.PutUint32(p[4:], uint32(i*dsp.OpusRTPTicksPerFrame))
		if err := r.push(p); err != nil {
			b.Fatal(err)
		}
	}
	if cnt.late.Load() != 0 || cnt.lost.Load() != 0 || frames == 0 {
		b.Fatalf("stream not continuous: late %d lost %d frames %d", cnt.late.Load(), cnt.lost.Load(), frames)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
	b.ReportMetric(float64(dsp.FrameMs*1e6)/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "x_realtime")
}

// benchPackets is 2 s of a tone as RTP packets with consecutive sequence
// numbers and timestamps (renumbered as the benchmark cycles through them).
func benchPackets(b *testing.B) [][]byte {
	b.Helper()
	pcm := tone440(100 * dsp.FrameSamples)
	enc, err := dsp.NewOpusEncoder(16000)
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, dsp.OpusMaxPacketBytes)
	for i := 0; i < 100; i++ {
		n, err := enc.Encode(pcm[i*dsp.FrameSamples:(i+1)*dsp.FrameSamples], buf)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, rawRTP(b, pkt{uint16(i), uint32(i * dsp.OpusRTPTicksPerFrame), append([]byte(nil), buf[:n]...)}))
	}
	return out
}
