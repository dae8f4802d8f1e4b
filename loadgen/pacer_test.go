package loadgen

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func TestMarshalRTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pt      uint8
		marker  bool
		seq     uint16
		ts      uint32
		payload []byte
	}{
		{"pcmu first", 0, true, 65535, 0xfffffff0, bytes.Repeat([]byte{0xff}, 160)},
		{"opus dynamic", 111, false, 1, 960, []byte{0x08, 1, 2}},
		{"empty", 8, false, 7, 7, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, rtpHeaderLen+len(tt.payload))
			n := marshalRTP(buf, tt.pt, tt.marker, tt.seq, tt.ts, 0xdeadbeef, tt.payload)
			var p rtp.Packet
			if err := p.Unmarshal(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if p.Version != 2 || p.PayloadType != tt.pt || p.Marker != tt.marker || p.SequenceNumber != tt.seq ||
				p.Timestamp != tt.ts || p.SSRC != 0xdeadbeef || !bytes.Equal(p.Payload, tt.payload) {
				t.Fatalf("round trip: %+v", p.Header)
			}
		})
	}
}

// TestPacerStreams: a stream sends its clip then silence, 20 ms apart, with
// consecutive sequence numbers and timestamps, records each frame's send
// time, and stops (socket closed) when it leaves.
func TestPacerStreams(t *testing.T) {
	defer goleak.VerifyNone(t)
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 5*dsp.FrameSamples)
	for i := range pcm {
		pcm[i] = int16(i%200*100 - 10000)
	}
	payloads, err := encodeFrames(pcm, amdsip.CodecPCMU)
	if err != nil {
		t.Fatal(err)
	}
	sil, _ := silencePayload(amdsip.CodecPCMU)
	cs := &callState{id: "t", sent: make([]atomic.Int64, 8)}
	p := newPacer()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.run(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	st := newStream(tx, rx.LocalAddr().(*net.UDPAddr).AddrPort(), 0, dsp.FrameSamples, payloads, sil, cs)
	if !p.join(st) {
		t.Fatal("pacer refused the stream")
	}
	const want = 8
	var pkts []rtp.Packet
	var arrivals []time.Time
	buf := make([]byte, 1500)
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(pkts) < want {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(pkts), err)
		}
		var pk rtp.Packet
		if err := pk.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pk)
		arrivals = append(arrivals, time.Now())
	}
	p.leave(st)
	for i, pk := range pkts {
		if pk.Marker != (i == 0) {
			t.Errorf("packet %d marker %v", i, pk.Marker)
		}
		if i > 0 && (pk.SequenceNumber != pkts[i-1].SequenceNumber+1 || pk.Timestamp != pkts[i-1].Timestamp+dsp.FrameSamples) {
			t.Errorf("packet %d: seq %d ts %d after seq %d ts %d", i, pk.SequenceNumber, pk.Timestamp, pkts[i-1].SequenceNumber, pkts[i-1].Timestamp)
		}
		wantPayload := sil
		if i < len(payloads) {
			wantPayload = payloads[i]
		}
		if !bytes.Equal(pk.Payload, wantPayload) {
			t.Errorf("packet %d: wrong payload", i)
		}
		if cs.sent[i].Load() == 0 || cs.sent[i].Load() > arrivals[i].UnixNano() {
			t.Errorf("frame %d: send time %d not recorded before its arrival %d", i, cs.sent[i].Load(), arrivals[i].UnixNano())
		}
	}
	// Real-time pace: 7 gaps of 20 ms. A loaded machine delays ticks, it
	// cannot make them early (absolute deadlines may shorten one gap after
	// a late one, not the total).
	span := time.Duration(cs.sent[want-1].Load() - cs.sent[0].Load())
	if span < (want-1)*dsp.FrameMs*time.Millisecond-2*time.Millisecond || span > 2*time.Second {
		t.Errorf("%d frames sent over %v, want ≈ %v", want, span, (want-1)*dsp.FrameMs*time.Millisecond)
	}
	if got := cs.packets.Load(); got < want {
		t.Errorf("packets counted %d, want ≥ %d", got, want)
	}
	// After leave the socket is closed by the pacer.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, err := tx.WriteToUDP([]byte{0}, rx.LocalAddr().(*net.UDPAddr)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream socket still open after leave")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkStreamSend is the generator's per-packet cost (marshal + one
// sendto on loopback): it must allocate nothing, since a capacity run sends
// 50 packets per second per call on the engine's own cores.
func BenchmarkStreamSend(b *testing.B) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	rx.SetReadBuffer(8 << 20)
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	payloads, _ := encodeFrames(make([]int16, 50*dsp.FrameSamples), amdsip.CodecPCMU)
	sil, _ := silencePayload(amdsip.CodecPCMU)
	cs := &callState{sent: make([]atomic.Int64, 64)}
	st := newStream(tx, rx.LocalAddr().(*net.UDPAddr).AddrPort(), 0, dsp.FrameSamples, payloads, sil, cs)
	go func() { // drain so the socket buffer never fills
		buf := make([]byte, 1500)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		st.send(time.Now().UnixNano())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
