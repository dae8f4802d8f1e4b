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
	phase    int // the pacer phase it is sent in
	idx      int // position in that phase's slice
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

// pacerPhases is how many phases a pacer spreads its streams over within
// one 20 ms frame. Real calls start at random moments, so their packets
// arrive spread over the frame; sending every stream's packet at the same
// instant would hit the engine with a burst of thousands of packets (and
// goroutine wake-ups) per tick that no real traffic produces, and measure
// the burst instead of the engine.
const pacerPhases = 10

// pacer sends the packets of many streams on one 20 ms clock, each stream
// in one of pacerPhases evenly spaced phases. It owns its streams: they
// join and leave through channels, and it closes a stream's socket when
// the stream leaves (or when the pacer stops).
type pacer struct {
	add, del chan *stream
	done     chan struct{}
	phases   [pacerPhases][]*stream
	nextJoin int // phase the next stream joins (round robin)
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
		for i := range p.phases {
			for _, s := range p.phases[i] {
				s.conn.Close()
			}
			p.phases[i] = nil
		}
	}()
	const frame = dsp.FrameMs * time.Millisecond
	const step = frame / pacerPhases
	timer := time.NewTimer(step)
	defer timer.Stop()
	next := time.Now().Add(step) // when the pending phase is due
	phase := 0
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-p.add:
			// Its first packet waits for its phase (≤ 20 ms, as a phone's
			// sound card would): every stream keeps an exact 20 ms spacing
			// from its first packet on.
			s.phase = p.nextJoin
			p.nextJoin = (p.nextJoin + 1) % pacerPhases
			s.idx = len(p.phases[s.phase])
			p.phases[s.phase] = append(p.phases[s.phase], s)
			continue
		case s := <-p.del:
			p.remove(s)
			continue
		case <-timer.C:
		}
		if time.Since(next) > frame {
			p.late.Add(1)
		}
		for _, s := range p.phases[phase] {
			// Each packet is stamped when it is written, so event lag does
			// not credit the engine with the generator's own delay.
			s.send(time.Now().UnixNano())
		}
		phase = (phase + 1) % pacerPhases
		// Absolute deadlines: a late phase shortens the next wait instead
		// of letting every stream drift behind real time. A pacer more than
		// a few frames behind skips ahead rather than bursting.
		next = next.Add(step)
		if time.Since(next) > 5*frame {
			next = time.Now()
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

func (p *pacer) remove(s *stream) {
	ph := p.phases[s.phase]
	if i := s.idx; i < len(ph) && ph[i] == s {
		last := len(ph) - 1
		ph[i] = ph[last]
		ph[i].idx = i
		ph[last] = nil
		p.phases[s.phase] = ph[:last]
	}
	s.conn.Close()
}
