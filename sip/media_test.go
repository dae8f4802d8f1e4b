package sip

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

var (
	peerA = netip.MustParseAddrPort("127.0.0.1:40000")
	peerB = netip.MustParseAddrPort("127.0.0.1:40002")
)

func newTestSession(t *testing.T, opts MediaOptions) *MediaSession {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMediaSession(conn, opts)
	t.Cleanup(func() { m.Close() })
	return m
}

// rtpBytes marshals one packet.
func rtpBytes(t testing.TB, ssrc uint32, seq uint16, ts uint32, pt uint8, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drain returns every frame the session can produce from what it was fed,
// giving up on gaps as a stalled stream would.
func drain(t *testing.T, m *MediaSession) ([]int16, []FrameInfo) {
	t.Helper()
	var pcm []int16
	var infos []FrameInfo
	frame := make([]int16, dsp.FrameSamples)
	for range 10000 {
		fi, err := m.ReadFrame(frame, time.Now().Add(-time.Second))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if m.rb.held > 0 || m.stashed {
				m.emit(true)
				continue
			}
			return pcm, infos
		}
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, frame...)
		infos = append(infos, fi)
	}
	t.Fatal("drain did not finish")
	return nil, nil
}

// playOut does what ReadFrame does between socket reads, without forcing
// a gap: takes every whole frame, then lets the session emit more, until
// it makes no progress. Tests that feed a long stream before draining use
// it, since the FIFO holds a frame's remainder plus one packet, not a
// stream.
func playOut(m *MediaSession, pcm *[]int16, infos *[]FrameInfo) {
	frame := make([]int16, dsp.FrameSamples)
	for {
		for m.wr-m.rd >= dsp.FrameSamples {
			*infos = append(*infos, m.popFrame(frame))
			*pcm = append(*pcm, frame...)
		}
		if !m.emit(false) {
			return
		}
	}
}

// mulawRamp is n μ-law bytes starting at off, so every sample is traceable.
func mulawRamp(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + i) * 7)
	}
	return b
}

func decodedRamp(off, n int) []int16 {
	out := make([]int16, n)
	dsp.DecodeMulaw(out, mulawRamp(off, n))
	return out
}

func equalPCM(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMain(m *testing.M) {
	// sipgo v1.7 starts the reader of a client UDP connection inside its
	// pool's singleflight; a connection made as the UA closes can land in
	// the pool after Clear and keep its reader (seen once in ~14 -race runs
	// of this package). That goroutine is the library's own: every other
	// goroutine, ours included, is still checked.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"))
}

func TestPtimeReassembly(t *testing.T) {
	t.Parallel()
	for _, ptime := range []int{10, 20, 30, 40, 60} {
		t.Run(time.Duration(ptime*int(time.Millisecond)).String(), func(t *testing.T) {
			m := newTestSession(t, MediaOptions{})
			per := ptime * 8
			const total = 4800 // 600 ms: a multiple of every ptime and of 160
			var pcm []int16
			var infos []FrameInfo
			for i := 0; i*per < total; i++ {
				m.handleDatagram(rtpBytes(t, 1, uint16(i), uint32(i*per), 0, mulawRamp(i*per, per)), peerA, time.Now())
				playOut(m, &pcm, &infos)
			}
			p, fis := drain(t, m)
			pcm, infos = append(pcm, p...), append(infos, fis...)
			if !equalPCM(pcm, decodedRamp(0, total)) {
				t.Fatalf("ptime %d: got %d samples, not the sent ramp", ptime, len(pcm))
			}
			for _, fi := range infos {
				if fi.Lost || fi.Codec != CodecPCMU {
					t.Fatalf("frame info %+v", fi)
				}
			}
			if st := m.Stats(); st.Frames != total/160 || st.Lost != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReorderLossLateDuplicate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		order                 []int
		wantSeqs              []int // packets whose audio must come out, in order; -1 = concealed
		lost, late, dups, reo uint64
	}{
		{"in order", []int{0, 1, 2, 3}, []int{0, 1, 2, 3}, 0, 0, 0, 0},
		{"swap", []int{0, 2, 1, 3}, []int{0, 1, 2, 3}, 0, 0, 0, 1},
		{"three late but in window", []int{0, 3, 2, 1, 4}, []int{0, 1, 2, 3, 4}, 0, 0, 0, 2},
		{"loss", []int{0, 1, 3, 4, 5, 6, 7}, []int{0, 1, -1, 3, 4, 5, 6, 7}, 1, 0, 0, 0},
		{"too late", []int{0, 2, 3, 4, 5, 1, 6}, []int{0, -1, 2, 3, 4, 5, 6}, 1, 1, 0, 0},
		// A copy of a packet already played is indistinguishable from a late one.
		{"duplicate after play", []int{0, 1, 1, 2}, []int{0, 1, 2}, 0, 1, 0, 0},
		{"duplicate while queued", []int{0, 2, 2, 1}, []int{0, 1, 2}, 0, 0, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newTestSession(t, MediaOptions{})
			var pcm []int16
			var infos []FrameInfo
			for _, s := range tc.order {
				m.handleDatagram(rtpBytes(t, 7, uint16(65530+s), uint32(s*160), 0, mulawRamp(s*160, 160)), peerA, time.Now())
				playOut(m, &pcm, &infos)
			}
			p, fis := drain(t, m)
			pcm, infos = append(pcm, p...), append(infos, fis...)
			var want []int16
			for _, s := range tc.wantSeqs {
				if s < 0 {
					want = append(want, make([]int16, 160)...)
					continue
				}
				want = append(want, decodedRamp(s*160, 160)...)
			}
			if !equalPCM(pcm, want) {
				t.Fatalf("audio does not match packets %v (got %d samples)", tc.wantSeqs, len(pcm))
			}
			for i, s := range tc.wantSeqs {
				if infos[i].Lost != (s < 0) {
					t.Errorf("frame %d lost=%v", i, infos[i].Lost)
				}
			}
			st := m.Stats()
			if st.Lost != tc.lost || st.Late != tc.late || st.Duplicates != tc.dups || st.Reordered != tc.reo {
				t.Errorf("lost %d late %d dups %d reordered %d; want %d %d %d %d", st.Lost, st.Late, st.Duplicates, st.Reordered, tc.lost, tc.late, tc.dups, tc.reo)
			}
		})
	}
}

func TestLatchingAndStrangers(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	now := time.Now()
	m.handleDatagram(rtpBytes(t, 1, 0, 0, 0, mulawRamp(0, 160)), peerA, now)
	m.handleDatagram(rtpBytes(t, 2, 0, 0, 0, mulawRamp(999, 160)), peerB, now)
	m.handleDatagram(rtpBytes(t, 1, 1, 160, 0, mulawRamp(160, 160)), peerA, now)
	pcm, _ := drain(t, m)
	if !equalPCM(pcm, decodedRamp(0, 320)) {
		t.Fatal("stranger's audio leaked into the call")
	}
	st := m.Stats()
	if st.Strangers != 1 || st.Packets != 2 || st.Remote != peerA {
		t.Fatalf("stats %+v", st)
	}
	// The latched peer goes quiet; a new source takes over (carrier bridged
	// the answered call from another media server).
	later := now.Add(relatchAfter + time.Millisecond)
	m.handleDatagram(rtpBytes(t, 3, 50, 0, 0, mulawRamp(320, 160)), peerB, later)
	pcm, _ = drain(t, m)
	if !equalPCM(pcm, decodedRamp(320, 160)) {
		t.Fatal("relatched source not played")
	}
	if st := m.Stats(); st.Relatches != 1 || st.Remote != peerB || st.SSRCChanges != 1 {
		t.Fatalf("after relatch %+v", st)
	}
}

func TestSSRCChangeAndSequenceJump(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	now := time.Now()
	seqs := []struct {
		ssrc uint32
		seq  uint16
	}{{10, 100}, {10, 101}, {10, 102}, {20, 9000}, {20, 9001}, {20, 9002}, {20, 20000}, {20, 20001}}
	var pcm []int16
	var infos []FrameInfo
	for i, s := range seqs {
		m.handleDatagram(rtpBytes(t, s.ssrc, s.seq, uint32(i*160), 0, mulawRamp(i*160, 160)), peerA, now)
		// Let the session play out after each packet, as ReadFrame would.
		playOut(m, &pcm, &infos)
	}
	p, _ := drain(t, m)
	pcm = append(pcm, p...)
	if !equalPCM(pcm, decodedRamp(0, len(seqs)*160)) {
		t.Fatalf("got %d samples; audio across SSRC change / restart not continuous", len(pcm))
	}
	if st := m.Stats(); st.SSRCChanges != 1 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDTMFReportedNotPlayed(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	now := time.Now()
	seq := uint16(0)
	var pcm []int16
	var infos []FrameInfo
	send := func(pt uint8, ts uint32, p []byte) {
		m.handleDatagram(rtpBytes(t, 5, seq, ts, pt, p), peerA, now)
		seq++
		playOut(m, &pcm, &infos)
	}
	send(0, 0, mulawRamp(0, 160))
	// '5' pressed: three updates and three end packets with one timestamp.
	for i, d := range []uint16{160, 320, 480, 640, 640, 640} {
		end := byte(0)
		if i >= 3 {
			end = 0x80
		}
		send(PayloadDTMF, 160, []byte{5, end | 10, byte(d >> 8), byte(d)})
	}
	send(PayloadDTMF, 1000, []byte{11, 0x80, 0, 160}) // '#'
	send(PayloadDTMF, 2000, []byte{16, 0x80, 0, 160}) // flash: not a key
	send(0, 2080, mulawRamp(160, 160))
	send(0, 2240, mulawRamp(320, 160))
	p, fis := drain(t, m)
	pcm, infos = append(pcm, p...), append(infos, fis...)
	// The audio clock skipped from 160 to 2080 while keys were sent: that
	// time comes back as silence, the events themselves never as audio.
	want := append(append(decodedRamp(0, 160), make([]int16, 1920)...), decodedRamp(160, 320)...)
	if !equalPCM(pcm, want) {
		t.Fatalf("telephone-event payload reached the audio, or its time was not kept (%d samples, want %d)", len(pcm), len(want))
	}
	var keys []rune
	for _, fi := range infos {
		if fi.DTMF != 0 {
			keys = append(keys, fi.DTMF)
		}
	}
	if string(keys) != "5#" || m.Stats().DTMF != 2 {
		t.Fatalf("dtmf %q (count %d), want \"5#\"", string(keys), m.Stats().DTMF)
	}
}

func TestGarbageNeverCrashes(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	now := time.Now()
	good := rtpBytes(t, 1, 0, 0, 0, mulawRamp(0, 160))
	cases := [][]byte{
		nil, {0x80}, good[:5], good[:11], // truncated
		{0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, // version 0
		{0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},    // claims 15 CSRCs it lacks
		[]byte("INVITE sip:x SIP/2.0\r\n\r\n"),
	}
	for _, c := range cases {
		m.handleDatagram(c, peerA, now)
	}
	m.handleDatagram([]byte{0x80, 200, 0, 6, 0, 0, 0, 1}, peerA, now) // RTCP SR header
	m.handleDatagram(good, peerA, now)
	m.handleDatagram(rtpBytes(t, 1, 1, 160, 99, []byte{1, 2, 3}), peerA, now) // unknown PT
	pcm, _ := drain(t, m)
	if !equalPCM(pcm, decodedRamp(0, 160)) {
		t.Fatal("good packet after garbage not played")
	}
	st := m.Stats()
	if st.Malformed != uint64(len(cases)) || st.RTCP != 1 || st.UnknownPayloads != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTimestampGapsBecomeSilence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pt     uint8
		tps    uint32 // RTP ticks per 8 kHz sample
		jump   uint32 // extra ticks between the 2nd and 3rd packet
		filled int    // samples of silence expected
	}{
		{"g711 vad 100ms", 0, 1, 800, 800},
		{"g711 long 3s", 0, 1, 24000, 24000},
		{"clock restart", 0, 1, 1 << 30, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newTestSession(t, MediaOptions{})
			ts := uint32(1000)
			var pcm []int16
			for i := range 4 {
				if i == 2 {
					ts += tc.jump
				}
				m.handleDatagram(rtpBytes(t, 1, uint16(i), ts, tc.pt, mulawRamp(i*160, 160)), peerA, time.Now())
				ts += 160 * tc.tps
				p, _ := drain(t, m)
				pcm = append(pcm, p...)
			}
			p, _ := drain(t, m)
			pcm = append(pcm, p...)
			want := append(decodedRamp(0, 320), make([]int16, tc.filled)...)
			want = append(want, decodedRamp(320, 320)...)
			if !equalPCM(pcm, want) {
				t.Fatalf("got %d samples, want %d (fill %d)", len(pcm), len(want), tc.filled)
			}
			if st := m.Stats(); st.GapFillSamples != uint64(tc.filled) || st.Lost != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOpusDTXGapFill(t *testing.T) {
	t.Parallel()
	enc, err := dsp.NewOpusEncoder(24000)
	if err != nil {
		t.Skip(err)
	}
	m := newTestSession(t, MediaOptions{})
	pcm := make([]int16, 160)
	out := make([]byte, dsp.OpusMaxPacketBytes)
	ts := uint32(0)
	var got []int16
	for i := range 3 {
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			ts += 400 * 48 // 400 ms of DTX on the 48 kHz clock
		}
		m.handleDatagram(rtpBytes(t, 1, uint16(i), ts, PayloadOpus, out[:n]), peerA, time.Now())
		ts += 960
		p, _ := drain(t, m)
		got = append(got, p...)
	}
	if len(got) != 3*160+3200 || m.Stats().GapFillSamples != 3200 {
		t.Fatalf("%d samples, fill %d; want %d and 3200", len(got), m.Stats().GapFillSamples, 3*160+3200)
	}
}

// TestOverUDP runs the real socket path: deadline, frames, media timeout, close.
func TestOverUDP(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{MediaTimeout: 150 * time.Millisecond})
	frame := make([]int16, dsp.FrameSamples)

	start := time.Now()
	if _, err := m.ReadFrame(frame, start.Add(30*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read: %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > time.Second {
		t.Fatalf("deadline honoured after %v", d)
	}

	tx, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for i := range 3 {
		if _, err := tx.Write(rtpBytes(t, 9, uint16(i), uint32(i*160), 8, make([]byte, 160))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		fi, err := m.ReadFrame(frame, time.Now().Add(time.Second))
		if err != nil || fi.Codec != CodecPCMA {
			t.Fatalf("frame %d: %+v %v", i, fi, err)
		}
	}
	if got := m.RemoteAddr(); got != tx.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("latched %v, want %v", got, tx.LocalAddr())
	}

	m.MarkAnswered(time.Now())
	start = time.Now()
	_, err = m.ReadFrame(frame, start.Add(5*time.Second))
	if !errors.Is(err, ErrMediaTimeout) {
		t.Fatalf("want media timeout, got %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("media timeout after %v, want ~150ms", d)
	}

	done := make(chan error, 1)
	m2 := newTestSession(t, MediaOptions{})
	go func() {
		_, err := m2.ReadFrame(make([]int16, 160), time.Now().Add(10*time.Second))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	m2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame did not return after Close")
	}
}

func TestOpusFrames(t *testing.T) {
	t.Parallel()
	enc, err := dsp.NewOpusEncoder(24000)
	if err != nil {
		t.Skip("no opus encoder:", err)
	}
	m := newTestSession(t, MediaOptions{})
	pcm := make([]int16, 160)
	out := make([]byte, dsp.OpusMaxPacketBytes)
	const hz = 600.0
	const frames = 25
	var got []int16
	var infos []FrameInfo
	for f := range frames {
		for i := range pcm {
			n := f*160 + i
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n)/8000))
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		m.handleDatagram(rtpBytes(t, 3, uint16(f), uint32(f*960), PayloadOpus, out[:n]), peerA, time.Now())
		playOut(m, &got, &infos)
	}
	p, fis := drain(t, m)
	got, infos = append(got, p...), append(infos, fis...)
	if len(infos) != frames || infos[0].Codec != CodecOpus {
		t.Fatalf("%d frames %+v", len(infos), infos[0])
	}
	// Skip the codec's start-up, then check the tone came through: the
	// decoded signal's power must sit at 600 Hz, not elsewhere.
	tail := got[len(got)-1600:]
	if r := goertzelRatio(tail, hz); r < 0.8 {
		t.Fatalf("600 Hz carries %.2f of the decoded power", r)
	}
}

// goertzelRatio is the share of signal power at freq.
func goertzelRatio(x []int16, freq float64) float64 {
	k := 2 * math.Cos(2*math.Pi*freq/8000)
	var s1, s2, energy float64
	for _, v := range x {
		f := float64(v)
		s := f + k*s1 - s2
		s2, s1 = s1, s
		energy += f * f
	}
	p := s1*s1 + s2*s2 - k*s1*s2
	if energy == 0 {
		return 0
	}
	return 2 * p / (float64(len(x)) * energy)
}

func BenchmarkPacketPath(b *testing.B) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	m := NewMediaSession(conn, MediaOptions{})
	defer m.Close()
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = rtpBytes(b, 1, 0, 0, 0, mulawRamp(i, 160))
	}
	frame := make([]int16, 160)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[i&63]
		p[2], p[3] = byte(i>>8), byte(i)
		m.handleDatagram(p, peerA, now)
		m.emit(false)
		for m.wr-m.rd >= 160 {
			m.popFrame(frame)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkPacketPathOpus is the per-packet path with Opus decoding,
// reported as multiples of real time per call (one packet = 20 ms).
func BenchmarkPacketPathOpus(b *testing.B) {
	enc, err := dsp.NewOpusEncoder(24000)
	if err != nil {
		b.Skip(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	m := NewMediaSession(conn, MediaOptions{})
	defer m.Close()
	pkts := make([][]byte, 50)
	pcm := make([]int16, 160)
	out := make([]byte, dsp.OpusMaxPacketBytes)
	for i := range pkts {
		for j := range pcm {
			pcm[j] = int16(6000 * math.Sin(2*math.Pi*440*float64(i*160+j)/8000))
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = rtpBytes(b, 1, 0, 0, PayloadOpus, out[:n])
	}
	frame := make([]int16, 160)
	now := time.Now()
	// The decoder is created on the first Opus packet; keep that one-off
	// allocation out of the per-packet figure.
	m.handleDatagram(rtpBytes(b, 1, 65535, 0, PayloadOpus, out[:3]), peerA, now)
	m.emit(true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[i%len(pkts)]
		p[2], p[3] = byte(i>>8), byte(i)
		m.handleDatagram(p, peerA, now)
		m.emit(false)
		for m.wr-m.rd >= 160 {
			m.popFrame(frame)
		}
	}
	b.ReportMetric(float64(b.N)*0.02/b.Elapsed().Seconds(), "x_realtime")
}

// BenchmarkReadFrameUDP measures the whole path including the socket read
// (and, with send, the silence packet written back).
func BenchmarkReadFrameUDP(b *testing.B) {
	b.Run("recv", func(b *testing.B) { benchReadFrameUDP(b, false) })
	b.Run("recv+send", func(b *testing.B) { benchReadFrameUDP(b, true) })
}

func benchReadFrameUDP(b *testing.B, send bool) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	m := NewMediaSession(conn, MediaOptions{SendSilence: send})
	defer m.Close()
	tx, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	pkt := rtpBytes(b, 1, 0, 0, 0, mulawRamp(0, 160))
	frame := make([]int16, 160)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		if _, err := tx.Write(pkt); err != nil {
			b.Fatal(err)
		}
		if _, err := m.ReadFrame(frame, time.Now().Add(time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func FuzzRTPPacket(f *testing.F) {
	f.Add(rtpBytes(f, 1, 0, 0, 0, mulawRamp(0, 160)), uint8(0))
	f.Add(rtpBytes(f, 1, 1, 160, PayloadDTMF, []byte{5, 0x80, 0, 160}), uint8(1))
	f.Add(rtpBytes(f, 1, 2, 960, PayloadOpus, []byte{0x78, 0xff, 0xfe}), uint8(2))
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, src uint8) {
		wd := time.AfterFunc(10*time.Second, func() { panic("fuzz input hung") })
		defer wd.Stop()
		m := newTestSession(t, MediaOptions{})
		from := peerA
		if src&1 == 1 {
			from = peerB
		}
		// The same datagram, mutated in sequence number, several times:
		// whatever arrives, the session must keep producing whole frames.
		for i := range 4 {
			c := append([]byte(nil), b...)
			if len(c) >= 4 {
				c[3] += byte(i)
			}
			m.handleDatagram(c, from, time.Now())
		}
		pcm, infos := drain(t, m)
		if len(pcm) != len(infos)*160 {
			t.Fatalf("%d samples for %d frames", len(pcm), len(infos))
		}
		st := m.Stats()
		if st.Packets+st.Malformed+st.RTCP+st.Strangers+st.Late+st.Duplicates+st.SSRCChanges < 4 {
			// every datagram must be accounted for somewhere
			if st.Packets == 0 && st.Malformed == 0 && st.RTCP == 0 {
				t.Fatalf("datagrams vanished: %+v", st)
			}
		}
	})
}

// TestStalledOwnerDoesNotInventLoss: the owner goroutine was away longer
// than the hold time while the missing packet sat in the socket; the gap
// must be filled by that packet, not concealed.
func TestStalledOwnerDoesNotInventLoss(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	tx, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	from := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	past := time.Now().Add(-200 * time.Millisecond)
	m.handleDatagram(rtpBytes(t, 1, 0, 0, 0, mulawRamp(0, 160)), from, past)
	m.handleDatagram(rtpBytes(t, 1, 2, 320, 0, mulawRamp(320, 160)), from, past)
	if _, err := tx.Write(rtpBytes(t, 1, 1, 160, 0, mulawRamp(160, 160))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let it land in the socket buffer
	var pcm []int16
	frame := make([]int16, 160)
	for range 3 {
		fi, err := m.ReadFrame(frame, time.Now().Add(time.Second))
		if err != nil || fi.Lost {
			t.Fatalf("frame: %+v %v", fi, err)
		}
		pcm = append(pcm, frame...)
	}
	if !equalPCM(pcm, decodedRamp(0, 480)) || m.Stats().Lost != 0 {
		t.Fatalf("lost %d; audio in order: %v", m.Stats().Lost, equalPCM(pcm, decodedRamp(0, 480)))
	}
}

func TestHoldSuspendsMediaTimeout(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{MediaTimeout: 100 * time.Millisecond})
	frame := make([]int16, 160)
	m.MarkAnswered(time.Now())
	m.SetHold(true)
	if _, err := m.ReadFrame(frame, time.Now().Add(250*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("on hold: %v, want deadline (no media timeout)", err)
	}
	m.SetHold(false)
	start := time.Now()
	_, err := m.ReadFrame(frame, start.Add(2*time.Second))
	if !errors.Is(err, ErrMediaTimeout) {
		t.Fatalf("after resume: %v", err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("timeout %v after resume: clock must restart at resume", d)
	}
}

func TestSendSilenceSymmetric(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		pt      uint8
		payload []byte
		wantLen int
		wantTS  uint32
	}{
		{"pcmu", 0, mulawRamp(0, 160), 160, 160},
		{"pcma", 8, make([]byte, 160), 160, 160},
		{"opus", PayloadOpus, opusSilence[:], 3, 960},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestSession(t, MediaOptions{SendSilence: true})
			peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			for i := range 3 {
				if _, err := peer.WriteToUDPAddrPort(rtpBytes(t, 5, uint16(i), uint32(i*160), tc.pt, tc.payload), m.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			}
			frame := make([]int16, 160)
			for range 3 {
				if _, err := m.ReadFrame(frame, time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			var pkts []rtp.Packet
			buf := make([]byte, 1500)
			peer.SetReadDeadline(time.Now().Add(time.Second))
			for len(pkts) < 3 {
				n, err := peer.Read(buf)
				if err != nil {
					t.Fatalf("got %d packets back: %v", len(pkts), err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
					t.Fatal(err)
				}
				pkts = append(pkts, p)
			}
			for i, p := range pkts {
				if p.PayloadType != tc.pt || len(p.Payload) != tc.wantLen || p.SSRC != pkts[0].SSRC ||
					p.SequenceNumber != pkts[0].SequenceNumber+uint16(i) || p.Timestamp != pkts[0].Timestamp+uint32(i)*tc.wantTS {
					t.Fatalf("packet %d: %+v", i, p.Header)
				}
			}
			// Silence, decoded with the peer's own codec, is silence.
			pcm := make([]int16, dsp.OpusMaxPacketSamples)
			switch tc.pt {
			case 0:
				dsp.DecodeMulaw(pcm, pkts[0].Payload)
			case 8:
				dsp.DecodeAlaw(pcm, pkts[0].Payload)
			default:
				dec, err := dsp.NewOpusDecoder()
				if err != nil {
					t.Skip(err)
				}
				n, err := dec.Decode(pkts[0].Payload, pcm)
				if err != nil || n != 160 {
					t.Fatalf("opus silence decodes to %d samples: %v", n, err)
				}
			}
			for _, v := range pcm {
				if v > 16 || v < -16 {
					t.Fatalf("not silence: %d", v)
				}
			}
			if m.Stats().Sent != 3 {
				t.Errorf("sent %d", m.Stats().Sent)
			}
		})
	}
}

func TestNonBlockingPoll(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	tx, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(m.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	frame := make([]int16, 160)
	if _, err := m.ReadFrame(frame, time.Now()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("empty poll: %v", err)
	}
	tx.Write(rtpBytes(t, 1, 0, 0, 0, mulawRamp(0, 160)))
	time.Sleep(20 * time.Millisecond)
	// Deadline already passed: the waiting packet must still be taken.
	if _, err := m.ReadFrame(frame, time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("poll with a packet waiting: %v", err)
	}
	if !equalPCM(frame, decodedRamp(0, 160)) {
		t.Fatal("wrong audio")
	}
	// A flood of strangers' packets cannot hold a polling caller.
	for range 200 {
		tx.Write([]byte("garbage that is not rtp"))
	}
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	if _, err := m.ReadFrame(frame, time.Now()); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("flooded poll: %v after %v", err, time.Since(start))
	}
}

// TestConcealmentFlagsAndLongGaps checks that concealed samples are
// marked lost exactly on the frames they touch, across the FIFO's wrap,
// and that a gap of large packets (more audio than the FIFO holds) is
// concealed in full, a packet at a time.
func TestConcealmentFlagsAndLongGaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		per     int          // samples per packet (ptime × 8)
		packets int          // sent, minus lost
		lost    map[int]bool // sequence numbers never sent
	}{
		{"30ms, one lost, frames straddle it", 240, 40, map[int]bool{9: true}},
		{"10ms, two gaps", 80, 120, map[int]bool{30: true, 31: true, 77: true}},
		{"120ms, three lost: 2880 samples concealed", 960, 12, map[int]bool{4: true, 5: true, 6: true}},
		{"20ms, gap longer than concealment", 160, 40, map[int]bool{10: true, 11: true, 12: true, 13: true, 14: true, 15: true, 16: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newTestSession(t, MediaOptions{})
			var pcm []int16
			var infos []FrameInfo
			var want []int16
			var lostSamples []bool
			run := 0 // consecutive lost packets
			for seq := range tc.packets {
				if tc.lost[seq] {
					// Concealment stops at maxConcealPackets; the rest of
					// the gap comes back from the timestamps as silence
					// that is not marked lost.
					want = append(want, make([]int16, tc.per)...)
					for range tc.per {
						lostSamples = append(lostSamples, run < maxConcealPackets)
					}
					run++
					continue
				}
				run = 0
				m.handleDatagram(rtpBytes(t, 4, uint16(seq), uint32(seq*tc.per), PayloadPCMU, mulawRamp(seq*tc.per, tc.per)), peerA, time.Now())
				want = append(want, decodedRamp(seq*tc.per, tc.per)...)
				for range tc.per {
					lostSamples = append(lostSamples, false)
				}
				playOut(m, &pcm, &infos)
			}
			p, fis := drain(t, m)
			pcm, infos = append(pcm, p...), append(infos, fis...)
			whole := len(want) / dsp.FrameSamples * dsp.FrameSamples
			if !equalPCM(pcm, want[:whole]) {
				t.Fatalf("got %d samples, want %d: audio or concealment out of place", len(pcm), whole)
			}
			for i, fi := range infos {
				wantLost := false
				for _, l := range lostSamples[i*dsp.FrameSamples : (i+1)*dsp.FrameSamples] {
					wantLost = wantLost || l
				}
				if fi.Lost != wantLost {
					t.Errorf("frame %d: lost=%v, want %v", i, fi.Lost, wantLost)
				}
			}
			if st := m.Stats(); st.Lost != uint64(len(tc.lost)) {
				t.Errorf("lost %d, want %d", st.Lost, len(tc.lost))
			}
		})
	}
}

// TestInOrderStreamSkipsWindow: packets that arrive in order are decoded
// straight from the read buffer, so the reorder window's slab is made only
// when a packet has to wait; the audio is the same either way.
func TestInOrderStreamSkipsWindow(t *testing.T) {
	t.Parallel()
	m := newTestSession(t, MediaOptions{})
	var pcm []int16
	var infos []FrameInfo
	send := func(seq int) {
		m.handleDatagram(rtpBytes(t, 9, uint16(seq), uint32(seq*160), PayloadPCMU, mulawRamp(seq*160, 160)), peerA, time.Now())
		playOut(m, &pcm, &infos)
	}
	for seq := range 50 {
		send(seq)
	}
	if m.rb.slab != nil {
		t.Fatalf("in-order stream allocated the reorder slab (%d B)", len(m.rb.slab))
	}
	for _, seq := range []int{51, 50, 52, 53} { // one swap: 51 must wait for 50
		send(seq)
	}
	if m.rb.slab == nil {
		t.Fatal("a packet that had to wait was not queued in the window")
	}
	p, fis := drain(t, m)
	pcm, infos = append(pcm, p...), append(infos, fis...)
	if !equalPCM(pcm, decodedRamp(0, 54*160)) {
		t.Fatalf("got %d samples, not the sent ramp", len(pcm))
	}
	if st := m.Stats(); st.Reordered != 1 || st.Lost != 0 || st.Late != 0 || st.Frames != 54 {
		t.Errorf("stats %+v", st)
	}
}
