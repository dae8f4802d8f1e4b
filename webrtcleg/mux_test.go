package webrtcleg

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// toneAt is hz at -12 dBFS for n samples.
func toneAt(hz float64, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/dsp.SampleRate))
	}
	return pcm
}

// zeroCrossingHz estimates a pure tone's frequency.
func zeroCrossingHz(pcm []int16) float64 {
	n := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			n++
		}
	}
	return float64(n) / 2 / (float64(len(pcm)) / dsp.SampleRate)
}

// TestMuxKeepsSessionsApart: eight publishers at once through the one ICE
// UDP port, each sending its own tone: every session must hear its own
// publisher and nobody else's (the mux demultiplexes by ICE username and
// then by remote address).
func TestMuxKeepsSessionsApart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := newTestHost(t, func(c *Config) { c.FrameQueue = 100 })
	const n = 8
	type leg struct {
		c  *webrtctest.Client
		s  *Session
		hz float64
	}
	legs := make([]leg, n)
	for i := range legs {
		c, s := connect(t, ctx, h, webrtctest.Options{})
		legs[i] = leg{c, s, 400 + 300*float64(i)}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range legs {
		wg.Add(1)
		go func(l leg) {
			defer wg.Done()
			if err := l.c.WaitConnected(ctx); err != nil {
				errs <- err
				return
			}
			pkts, err := webrtctest.EncodeOpus(toneAt(l.hz, 50*dsp.FrameSamples), 32000)
			if err != nil {
				errs <- err
				return
			}
			if err := l.c.Send(ctx, pkts, 10*time.Millisecond, nil); err != nil {
				errs <- err
			}
		}(legs[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, l := range legs {
		got := make([]int16, 0, 50*dsp.FrameSamples)
		var pcm [dsp.FrameSamples]int16
		for f := 0; f < 50; f++ {
			if err := l.s.ReadFrame(pcm[:], time.Now().Add(5*time.Second)); err != nil {
				t.Fatalf("leg %d frame %d: %v", i, f, err)
			}
			got = append(got, pcm[:]...)
		}
		// Skip the codec's first 100 ms of ramp-up.
		hz := zeroCrossingHz(got[800:])
		if math.Abs(hz-l.hz) > 30 {
			t.Errorf("leg %d sent %.0f Hz, its session heard %.0f Hz", i, l.hz, hz)
		}
		if st := l.s.Stats(); st.Packets != 50 {
			t.Errorf("leg %d: %d packets, want 50: %s", i, st.Packets, fmt.Sprint(st))
		}
	}
}
