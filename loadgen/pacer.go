package loadgen

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/dsp"
)

// rtpHeaderLen is a plain RTP header: no CSRC, no extension.
const rtpHeaderLen = 12

// stream is one answered call's outgoing RTP. Only its pacer goroutine
// touches the unexported sending state; what the scorer reads lives in
// calls (atomics).
type stream struct {
	conn     *net.UDPConn
	dst      netip.AddrPort
	pt       uint8
	ssrc     uint32
	seq      uint16
	ts       uint32
	ticks    uint32 // RTP timestamp step per 20 ms frame
	payloads [][]byte
	silence  []byte
	pos      int
	first    bool
	idx      int // position in its pacer's slice
	call     *callState
	wire     [rtpHeaderLen + dsp.OpusMaxPacketBytes]byte
}

func newStream(conn *net.UDPConn, dst netip.AddrPort, pt uint8, ticks uint32, payloads [][]byte, silence []byte, cs *callState) *stream {
	return &stream{conn: conn, dst: dst, pt: pt, ticks: ticks, payloads: payloads, silence: silence, call: cs,
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(), first: true}
}

// send writes the next 20 ms frame: the clip, then silence until hangup
// (a live phone's media keeps flowing). nowNs is recorded as the frame's
// send time for event lag. It allocates nothing.
func (s *stream) send(nowNs int64) {
	p := s.silence
	if s.pos < len(s.payloads) {
		p = s.payloads[s.pos]
	}
	n := marshalRTP(s.wire[:], s.pt, s.first, s.seq, s.ts, s.ssrc, p)
	if s.pos < len(s.call.sent) {
		s.call.sent[s.pos].Store(nowNs)
	}
	s.pos++
	s.first = false
	s.seq++
	s.ts += s.ticks
	if _, err := s.conn.WriteToUDPAddrPort(s.wire[:n], s.dst); err == nil {
		s.call.packets.Add(1)
	}
}

// marshalRTP writes an RTP packet (RFC 3550 §5.1) into dst and returns its
// length; dst must hold rtpHeaderLen+len(payload) bytes.
func marshalRTP(dst []byte, pt uint8, marker bool, seq uint16, ts, ssrc uint32, payload []byte) int {
	dst[0] = 0x80 // version 2, no padding, no extension, no CSRC
	dst[1] = pt & 0x7f
	if marker {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], seq)
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.BigEndian.PutUint32(dst[8:], ssrc)
	return rtpHeaderLen + copy(dst[rtpHeaderLen:], payload)
}

// pacer sends the packets of many streams on one 20 ms clock. It owns its
// streams: they join and leave through channels, and it closes a stream's
// socket when the stream leaves (or when the pacer stops).
type pacer struct {
	add, del chan *stream
	done     chan struct{}
	streams  []*stream
	// late counts ticks that started more than a frame behind schedule: the
	// generator itself could not keep up (reported so a run can be trusted).
	late atomic.Int64
}

func newPacer() *pacer {
	return &pacer{add: make(chan *stream, 64), del: make(chan *stream), done: make(chan struct{})}
}

// join hands s to the pacer; false when the pacer has stopped.
func (p *pacer) join(s *stream) bool {
	select {
	case p.add <- s:
		return true
	case <-p.done:
		return false
	}
}

// leave stops s and closes its socket.
func (p *pacer) leave(s *stream) {
	select {
	case p.del <- s:
	case <-p.done:
		s.conn.Close() // the pacer closed what it held; closing twice is harmless
	}
}

func (p *pacer) run(ctx context.Context) {
	defer close(p.done)
	defer func() {
		for _, s := range p.streams {
			s.conn.Close()
		}
		p.streams = nil
	}()
	const period = dsp.FrameMs * time.Millisecond
	timer := time.NewTimer(period)
	defer timer.Stop()
	next := time.Now().Add(period) // when the pending tick is due
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-p.add:
			s.idx = len(p.streams)
			// Its first packet waits for the next tick (≤ 20 ms, as a
			// phone's sound card would): every stream keeps an exact 20 ms
			// spacing from its first packet on.
			p.streams = append(p.streams, s)
			continue
		case s := <-p.del:
			p.remove(s)
			continue
		case <-timer.C:
		}
		now := time.Now()
		if now.Sub(next) > period {
			p.late.Add(1)
		}
		for _, s := range p.streams {
			// Each packet is stamped when it is written, so event lag does
			// not credit the engine with the generator's own delay.
			s.send(time.Now().UnixNano())
		}
		// Absolute deadlines: a late tick shortens the next wait instead of
		// letting every stream drift behind real time. A pacer more than a
		// few frames behind skips ahead rather than bursting.
		next = next.Add(period)
		if behind := time.Since(next); behind > 5*period {
			next = time.Now()
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

func (p *pacer) remove(s *stream) {
	i := s.idx
	if i < len(p.streams) && p.streams[i] == s {
		last := len(p.streams) - 1
		p.streams[i] = p.streams[last]
		p.streams[i].idx = i
		p.streams[last] = nil
		p.streams = p.streams[:last]
	}
	s.conn.Close()
}
