package webrtcleg

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// BenchmarkSessionLoopback measures the whole leg on loopback: a pion
// publisher writes SRTP, the host's UDP mux, DTLS-SRTP decryption,
// track.Read, RTP parse, Opus decode, framing and ReadFrame. One op is one
// 20 ms packet. allocs/op counts the whole process, sender included, so
// it bounds the receiving path's (0 measured on this machine; the
// per-packet code alone is BenchmarkReceiverPush).
func BenchmarkSessionLoopback(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h, err := NewHost(Config{UDPListen: "127.0.0.1:0", FrameQueue: 200})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	c, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	offer, err := c.Offer(ctx)
	if err != nil {
		b.Fatal(err)
	}
	s, answer, err := h.Accept(ctx, offer, SessionOptions{ID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := c.Answer(answer); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitConnected(ctx); err != nil {
		b.Fatal(err)
	}
	pkts, err := webrtctest.EncodeOpus(tone440(50*dsp.FrameSamples), 16000)
	if err != nil {
		b.Fatal(err)
	}
	var pcm [dsp.FrameSamples]int16
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		batch := pkts[:min(len(pkts), b.N-done)]
		if err := c.Send(ctx, batch, 0, nil); err != nil {
			b.Fatal(err)
		}
		for range batch {
			if err := s.ReadFrame(pcm[:], time.Now().Add(5*time.Second)); err != nil {
				b.Fatalf("after %d frames: %v (stats %+v)", done, err, s.Stats())
			}
			done++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

// TestReadFrameAllocs: the owner's poll (frame ready, or deadline) must
// not allocate: it runs 50 times a second per call.
func TestReadFrameAllocs(t *testing.T) {
	h := newTestHost(t, nil)
	s := newSession(h, nil, "allocs", h.log)
	var fr [dsp.FrameSamples]int16
	var pcm [dsp.FrameSamples]int16
	allocs := testing.AllocsPerRun(200, func() {
		s.deliver(&fr)
		if err := s.ReadFrame(pcm[:], time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.ReadFrame(pcm[:], time.Now().Add(50*time.Microsecond)); err == nil {
			t.Fatal("frame from nowhere")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per frame+poll, want 0", allocs)
	}
}

// BenchmarkAccept is the cost of answering one offer: parse and check it,
// build the peer connection (DTLS certificate included), gather the mux's
// host candidate and close it again. It bounds WHIP sessions per second.
func BenchmarkAccept(b *testing.B) {
	ctx := context.Background()
	h, err := NewHost(Config{UDPListen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	c, err := webrtctest.NewClient(webrtctest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	offer, err := c.Offer(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var accepting time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		t0 := time.Now()
		s, _, err := h.Accept(ctx, offer, SessionOptions{ID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		accepting += time.Since(t0)
		_ = s.Close()
	}
	b.ReportMetric(float64(accepting.Microseconds())/float64(b.N), "µs_accept")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "µs_cpu")
}

// cpuTime is the process's user+system CPU time: wall time per op says
// little on a shared machine, CPU per op is what capacity depends on.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
