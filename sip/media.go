package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// Media path tuning.
const (
	// DefaultMediaTimeout is how long an answered call may stay without RTP.
	DefaultMediaTimeout = 10 * time.Second
	// reorderHoldMax is how long a gap may stall playout when no packets
	// arrive behind it.
	reorderHoldMax = 60 * time.Millisecond
	// relatchAfter lets a new source take over once the latched one has
	// been silent this long: carriers often play early media from one
	// media server and bridge the answered call from another.
	relatchAfter = time.Second
	// maxConcealPackets bounds the audio invented for one gap; longer
	// outages are not papered over.
	maxConcealPackets = 5
	// seqRestart: a sequence jump this large is a restarted sender, not loss.
	seqRestart = 1000
	// maxGapFill bounds the silence inserted for one timestamp gap (10 s at
	// 8 kHz): senders with silence suppression (G.711 VAD, Opus DTX, CN)
	// send nothing while the callee is quiet, and the detector's timers
	// run on audio time, so that time must be given back as silence. A
	// larger jump is a sender that restarted its clock, not silence.
	maxGapFill = 10 * dsp.SampleRate
	// fifoSize holds one frame's remainder (< 160 samples) plus one unit of
	// work of emit — a decoded packet, one concealed packet or a piece of
	// gap silence, each at most the longest Opus packet (960 samples).
	// ReadFrame only asks for more audio when less than a frame is queued,
	// and concealment and gap fill are paid out a unit at a time, so
	// nothing larger ever needs to fit. The FIFO is linear, not a ring, so
	// decoders write into it directly: the remainder moves to the front
	// when the tail lacks room (under a frame of samples, and not at all
	// when packets are whole frames).
	fifoSize = dsp.FrameSamples + dsp.OpusMaxPacketSamples
	// emitRoom is the free space emit needs before it does a unit of work.
	emitRoom = dsp.OpusMaxPacketSamples
	// maxLatePolls bounds the datagrams ReadFrame takes after its deadline
	// (a zero-wait poll), so a flood cannot keep it from returning.
	maxLatePolls = 16
	// readBufSize is larger than any payload we keep so oversized
	// datagrams are detected rather than silently truncated.
	readBufSize = 2048
)

// payloadKind is what a payload type means for this session.
type payloadKind uint8

const (
	kindUnknown payloadKind = iota
	kindPCMU
	kindPCMA
	kindOpus
	kindDTMF
	kindCN
)

// PayloadMap maps RTP payload types to what they carry; the session reads
// it through an atomic pointer so signalling can update it mid-call.
type PayloadMap [128]payloadKind

// NewPayloadMap builds the map for formats plus optional telephone-event.
func NewPayloadMap(formats []Format, dtmfPT uint8, hasDTMF bool) *PayloadMap {
	var m PayloadMap
	m[payloadCN] = kindCN
	for _, f := range formats {
		if f.PayloadType >= 128 {
			continue
		}
		switch f.Codec {
		case CodecPCMU:
			m[f.PayloadType] = kindPCMU
		case CodecPCMA:
			m[f.PayloadType] = kindPCMA
		case CodecOpus:
			m[f.PayloadType] = kindOpus
		}
	}
	if hasDTMF && dtmfPT < 128 {
		m[dtmfPT] = kindDTMF
	}
	return &m
}

// FrameInfo describes one 20 ms frame returned by ReadFrame.
type FrameInfo struct {
	// Lost is set when any sample of the frame was concealed (packet loss).
	Lost bool
	// DTMF is a key pressed since the previous frame (RFC 4733), or 0.
	DTMF rune
	// Codec is the codec of the last packet decoded into the frame.
	Codec Codec
}

// MediaStats are the session's counters; read them from any goroutine.
type MediaStats struct {
	Packets, Bytes                       uint64
	Lost, Late, Duplicates, Reordered    uint64
	Strangers, Malformed, RTCP           uint64
	DecodeErrors, UnknownPayloads        uint64
	SSRCChanges, Relatches, DTMF, Frames uint64
	ConcealedFrames                      uint64
	// GapFillSamples is the silence inserted for timestamp gaps (DTX, VAD).
	GapFillSamples uint64
	// Sent counts silence packets sent back (MediaOptions.SendSilence).
	Sent       uint64
	Remote     netip.AddrPort
	LastPacket time.Time
}

type mediaCounters struct {
	packets, bytes, lost, late, dups, reordered atomic.Uint64
	strangers, malformed, rtcp                  atomic.Uint64
	decodeErrors, unknownPT                     atomic.Uint64
	ssrcChanges, relatches, dtmf, frames        atomic.Uint64
	concealedFrames, gapFill, sent              atomic.Uint64
	lastPacket                                  atomic.Int64
}

// MediaOptions configure a MediaSession.
type MediaOptions struct {
	// Payloads is the initial payload type map (usually our offer's).
	Payloads *PayloadMap
	// MediaTimeout after the answer without RTP makes ReadFrame fail
	// with ErrMediaTimeout; 0 means DefaultMediaTimeout.
	MediaTimeout time.Duration
	// OnClose runs once after the socket is closed (port pool release).
	OnClose func()
	// Log receives one warning per kind of trouble (first stranger, first
	// malformed datagram, first SSRC change); counters carry the rest, so
	// a flood never turns into a log flood.
	Log *zerolog.Logger
	// SendSilence answers every frame received with one packet of silence
	// in the same codec to the latched peer (symmetric RTP). Some SBCs
	// drop calls that receive no RTP, and NATs in front of us only stay
	// open while we send.
	SendSilence bool
}

// MediaSession receives one call's RTP on its own socket and turns it into
// 160-sample frames. ReadFrame must be called from a single goroutine (the
// call's owner); SetPayloads, MarkAnswered, Stats, RemoteAddr and Close are
// safe from any goroutine.
type MediaSession struct {
	conn     *net.UDPConn
	port     int
	timeout  time.Duration
	payloads atomic.Pointer[PayloadMap]
	answered atomic.Int64 // unix nanos of the answer, 0 before
	hold     atomic.Bool  // the peer put the call on hold: no RTP expected
	resumed  atomic.Int64 // unix nanos of the last resume from hold
	remote   atomic.Pointer[netip.AddrPort]
	cnt      mediaCounters

	sendSilence bool
	out         [12 + dsp.FrameSamples]byte // our silence packet, header rewritten per send
	outSeq      uint16
	outTS       uint32
	outSSRC     uint32
	outMap      *PayloadMap
	outPT       [3]uint8 // payload types of PCMU, PCMA, Opus in outMap

	closeOnce sync.Once
	onClose   func()
	log       *zerolog.Logger
	warned    uint8 // bit per warnKind, owner-only

	// Owner-only state below: touched by ReadFrame's goroutine alone.
	pkt      rtp.Packet
	buf      [readBufSize]byte
	latched  netip.AddrPort
	lastRx   time.Time // last accepted packet from the latched source
	ssrc     uint32
	haveSSRC bool
	rb       reorderBuffer
	stash    rtpSlot // first packet of a new SSRC or after a jump, waiting for the drain
	stashBuf []byte  // its payload; made on the first restart (most calls have none)
	stashed  bool
	stashGap int // sequence numbers skipped by a jump, counted as lost on restart

	concealLeft int // packets of the current gap still to conceal before the packet behind it

	opus        dsp.Decoder
	opusErr     error
	lastKind    payloadKind
	lastSamples int    // duration of the last audio packet, for concealment
	expectTS    uint32 // RTP timestamp the next audio packet should carry
	haveTS      bool
	// fillPending is silence owed for skipped time before the packet at
	// the playout point, which waits in the reorder window until it is out.
	fillPending int

	fifo   [fifoSize]int16
	lostB  [(fifoSize + 63) / 64]uint64 // bit per FIFO position: concealed
	rd, wr int                          // queued audio is fifo[rd:wr]

	dtmfQ    [8]rune
	dtmfN    int
	dtmfTS   uint32
	dtmfSeen bool
}

// NewMediaSession takes ownership of conn.
func NewMediaSession(conn *net.UDPConn, opts MediaOptions) *MediaSession {
	m := &MediaSession{conn: conn, timeout: opts.MediaTimeout, onClose: opts.OnClose, log: opts.Log,
		sendSilence: opts.SendSilence, outSeq: uint16(rand.Uint32()), outTS: rand.Uint32(), outSSRC: rand.Uint32()}
	if m.timeout <= 0 {
		m.timeout = DefaultMediaTimeout
	}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		m.port = ua.Port
	}
	p := opts.Payloads
	if p == nil {
		p = NewPayloadMap([]Format{{PayloadPCMU, CodecPCMU}, {PayloadPCMA, CodecPCMA}, {PayloadOpus, CodecOpus}}, PayloadDTMF, true)
	}
	m.payloads.Store(p)
	m.lastSamples = dsp.FrameSamples
	return m
}

// Port is the local RTP port.
func (m *MediaSession) Port() int { return m.port }

// LocalAddr is the socket's bound address.
func (m *MediaSession) LocalAddr() netip.AddrPort {
	return m.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetPayloads replaces the payload type map (e.g. after the SDP answer).
func (m *MediaSession) SetPayloads(p *PayloadMap) { m.payloads.Store(p) }

// MarkAnswered starts the media timeout clock.
func (m *MediaSession) MarkAnswered(at time.Time) { m.answered.Store(at.UnixNano()) }

// SetHold suspends the media timeout while the peer has said it sends
// nothing (re-INVITE with a=inactive or a=recvonly); resuming restarts the
// timeout clock.
func (m *MediaSession) SetHold(on bool) {
	if m.hold.Swap(on) && !on {
		m.resumed.Store(time.Now().UnixNano())
	}
}

// RemoteAddr is the latched source, or the zero value before the first packet.
func (m *MediaSession) RemoteAddr() netip.AddrPort {
	if p := m.remote.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// Close closes the socket; a blocked ReadFrame returns ErrClosed.
func (m *MediaSession) Close() error {
	var err error
	m.closeOnce.Do(func() {
		err = m.conn.Close()
		if m.onClose != nil {
			m.onClose()
		}
	})
	return err
}

// Stats snapshots the counters.
func (m *MediaSession) Stats() MediaStats {
	c := &m.cnt
	s := MediaStats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(), Lost: c.lost.Load(), Late: c.late.Load(),
		Duplicates: c.dups.Load(), Reordered: c.reordered.Load(), Strangers: c.strangers.Load(),
		Malformed: c.malformed.Load(), RTCP: c.rtcp.Load(), DecodeErrors: c.decodeErrors.Load(),
		UnknownPayloads: c.unknownPT.Load(), SSRCChanges: c.ssrcChanges.Load(), Relatches: c.relatches.Load(),
		DTMF: c.dtmf.Load(), Frames: c.frames.Load(), ConcealedFrames: c.concealedFrames.Load(),
		GapFillSamples: c.gapFill.Load(), Sent: c.sent.Load(),
		Remote: m.RemoteAddr(),
	}
	if ns := c.lastPacket.Load(); ns != 0 {
		s.LastPacket = time.Unix(0, ns)
	}
	return s
}

// ReadFrame fills pcm[:160] with the next 20 ms of audio. It returns
// os.ErrDeadlineExceeded when deadline passes first (so the owner can
// service its channels and call again), ErrMediaTimeout when the answered
// call has had no RTP for MediaTimeout, and ErrClosed after Close.
// Whatever ptime the peer uses, frames are always 160 samples.
func (m *MediaSession) ReadFrame(pcm []int16, deadline time.Time) (FrameInfo, error) {
	if len(pcm) < dsp.FrameSamples {
		return FrameInfo{}, fmt.Errorf("sip: read frame: pcm holds %d samples, need %d", len(pcm), dsp.FrameSamples)
	}
	late := 0 // datagrams taken after the deadline passed
	for {
		if m.wr-m.rd >= dsp.FrameSamples {
			fi := m.popFrame(pcm)
			if m.sendSilence {
				m.sendBack()
			}
			return fi, nil
		}
		if m.emit(false) {
			continue
		}
		now := time.Now()
		readDL := deadline
		if ans := m.answered.Load(); ans != 0 && !m.hold.Load() {
			since := time.Unix(0, max(ans, m.resumed.Load()))
			if m.lastRx.After(since) {
				since = m.lastRx
			}
			to := since.Add(m.timeout)
			if !now.Before(to) {
				return FrameInfo{}, fmt.Errorf("%w: no rtp for %v", ErrMediaTimeout, now.Sub(since).Round(time.Millisecond))
			}
			if to.Before(readDL) {
				readDL = to
			}
		}
		if m.rb.held > 0 {
			flush := m.lastRx.Add(reorderHoldMax)
			if !now.Before(flush) {
				// Before giving up on the gap, take whatever already sits in
				// the socket: if this goroutine was descheduled, the missing
				// packet may have arrived long ago.
				if got, err := m.poll(); err != nil {
					return FrameInfo{}, err
				} else if got {
					continue
				}
				m.emit(true)
				continue
			}
			if flush.Before(readDL) {
				readDL = flush
			}
		}
		if !now.Before(deadline) {
			// A deadline of "now" is a non-blocking poll: still take what
			// already waits in the socket, but never loop on a flood.
			if late < maxLatePolls {
				late++
				if got, err := m.poll(); err != nil {
					return FrameInfo{}, err
				} else if got {
					continue
				}
			}
			return FrameInfo{}, os.ErrDeadlineExceeded
		}
		if err := m.conn.SetReadDeadline(readDL); err != nil {
			return FrameInfo{}, m.readErr(err)
		}
		n, from, err := m.conn.ReadFromUDPAddrPort(m.buf[:])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // the loop decides which deadline fired
			}
			return FrameInfo{}, m.readErr(err)
		}
		m.handleDatagram(m.buf[:n], from, time.Now())
	}
}

// opusSilence is a 20 ms CELT frame of digital silence (TOC 0xF8 plus
// the two-byte silence frame), what WebRTC stacks send for muted audio.
var opusSilence = [...]byte{0xF8, 0xFF, 0xFE}

// sendBack sends one 20 ms packet of silence to the latched peer in the
// codec it sends us. Zero allocations: the packet is rewritten in place.
func (m *MediaSession) sendBack() {
	if !m.latched.IsValid() {
		return
	}
	var pt uint8
	var payload []byte
	step := uint32(dsp.FrameSamples)
	if p := m.payloads.Load(); p != m.outMap {
		// The map changes a handful of times per call; look the payload
		// types up then, not per packet.
		m.outMap = p
		m.outPT = [3]uint8{ptFor(p, kindPCMU), ptFor(p, kindPCMA), ptFor(p, kindOpus)}
	}
	switch m.lastKind {
	case kindPCMU, kindPCMA:
		fill := byte(0xFF) // μ-law zero
		want := kindPCMU
		if m.lastKind == kindPCMA {
			fill, want = 0xD5, kindPCMA // A-law zero
		}
		pt = m.outPT[want-kindPCMU]
		payload = m.out[12:]
		for i := range payload {
			payload[i] = fill
		}
	case kindOpus:
		pt = m.outPT[2]
		payload = m.out[12 : 12+len(opusSilence)]
		copy(payload, opusSilence[:])
		step = dsp.OpusRTPTicksPerFrame
	default:
		return
	}
	h := m.out[:12]
	h[0], h[1] = 0x80, pt
	binary.BigEndian.PutUint16(h[2:], m.outSeq)
	binary.BigEndian.PutUint32(h[4:], m.outTS)
	binary.BigEndian.PutUint32(h[8:], m.outSSRC)
	m.outSeq++
	m.outTS += step
	if _, err := m.conn.WriteToUDPAddrPort(m.out[:12+len(payload)], m.latched); err == nil {
		m.cnt.sent.Add(1)
	}
}

// ptFor finds the payload type the map assigns to kind (0 if none).
func ptFor(p *PayloadMap, k payloadKind) uint8 {
	for pt, kind := range p {
		if kind == k {
			return uint8(pt)
		}
	}
	return 0
}

// pollWait is how long a poll's read may wait. A deadline that has passed
// by the time the read starts fails it without trying the socket, so the
// margin must outlast a preemption between setting it and reading (50 µs
// did not under -race on a loaded machine); a datagram already queued is
// taken at once, so only an empty socket waits this long.
const pollWait = 250 * time.Microsecond

// poll reads one datagram if one is already queued on the socket.
func (m *MediaSession) poll() (bool, error) {
	if err := m.conn.SetReadDeadline(time.Now().Add(pollWait)); err != nil {
		return false, m.readErr(err)
	}
	n, from, err := m.conn.ReadFromUDPAddrPort(m.buf[:])
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil
		}
		return false, m.readErr(err)
	}
	m.handleDatagram(m.buf[:n], from, time.Now())
	return true, nil
}

func (m *MediaSession) readErr(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return ErrClosed
	}
	return fmt.Errorf("sip: rtp read: %w", err)
}

// handleDatagram validates, latches and queues one datagram.
func (m *MediaSession) handleDatagram(b []byte, from netip.AddrPort, now time.Time) {
	c := &m.cnt
	if len(b) >= 2 && b[1] >= 192 && b[1] <= 223 {
		// RTCP multiplexed on the RTP port (RFC 5761): not audio.
		c.rtcp.Add(1)
		return
	}
	if err := m.pkt.Unmarshal(b); err != nil || m.pkt.Version != 2 || len(m.pkt.Payload) > maxPayload {
		c.malformed.Add(1)
		m.warnOnce(warnMalformed, from, len(b))
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	switch {
	case !m.latched.IsValid():
		m.latch(from)
	case from != m.latched:
		if now.Sub(m.lastRx) < relatchAfter {
			c.strangers.Add(1)
			m.warnOnce(warnStranger, from, len(b))
			return
		}
		m.latch(from)
		c.relatches.Add(1)
	}
	m.lastRx = now
	c.packets.Add(1)
	c.bytes.Add(uint64(len(b)))
	c.lastPacket.Store(now.UnixNano())

	h := &m.pkt.Header
	if !m.haveSSRC {
		m.ssrc, m.haveSSRC = h.SSRC, true
	} else if h.SSRC != m.ssrc {
		// A new stream (re-INVITE, media server switch): play out what
		// the old one left, then restart sequence tracking with this one.
		m.ssrc = h.SSRC
		c.ssrcChanges.Add(1)
		m.warnOnce(warnSSRC, from, len(b))
		m.stashPacket(0)
		return
	}
	if m.stashed {
		// Still draining toward a restart; later packets of the new stream
		// would be judged against the old sequence, so hold only the first.
		c.late.Add(1)
		return
	}
	if m.playNow(h, m.pkt.Payload) {
		return
	}
	res, reordered := m.rb.push(h.SequenceNumber, h.Timestamp, h.PayloadType, h.Marker, m.pkt.Payload)
	switch res {
	case pushLate:
		c.late.Add(1)
	case pushDuplicate:
		c.dups.Add(1)
	case pushJump:
		gap := int(h.SequenceNumber - m.rb.next)
		if gap >= seqRestart {
			gap = 0
		}
		m.stashPacket(gap)
	}
	if reordered {
		c.reordered.Add(1)
	}
}

// playNow decodes a packet that arrives exactly at the playout point,
// with nothing queued or owed before it, straight from the read buffer:
// an in-order stream never touches the reorder window, whose slab is made
// only for the first packet that has to wait. It reports whether it did.
func (m *MediaSession) playNow(h *rtp.Header, payload []byte) bool {
	r := &m.rb
	if r.started && (r.held > 0 || h.SequenceNumber != r.next) {
		return false
	}
	if m.fillPending > 0 || m.concealLeft > 0 || fifoSize-(m.wr-m.rd) < emitRoom {
		return false
	}
	s := rtpSlot{used: true, seq: h.SequenceNumber, ts: h.Timestamp, pt: h.PayloadType, marker: h.Marker, n: len(payload)}
	if m.owesSilence(&s) {
		return false // queued behind its silence, as emit would have it
	}
	if !r.started {
		r.reset(s.seq)
	}
	r.next, r.highest = s.seq+1, s.seq
	m.decode(&s, payload)
	return true
}

type warnKind uint8

const (
	warnMalformed warnKind = 1 << iota
	warnStranger
	warnSSRC
)

var warnText = map[warnKind]string{
	warnMalformed: "malformed datagram on rtp port (further ones only counted)",
	warnStranger:  "rtp from a stranger dropped (further ones only counted)",
	warnSSRC:      "rtp ssrc changed (further changes only counted)",
}

func (m *MediaSession) warnOnce(k warnKind, from netip.AddrPort, n int) {
	if m.log == nil || m.warned&uint8(k) != 0 {
		return
	}
	m.warned |= uint8(k)
	m.log.Warn().Stringer("from", from).Stringer("latched", m.latched).Int("bytes", n).Int("rtpPort", m.port).Msg(warnText[k])
}

func (m *MediaSession) latch(from netip.AddrPort) {
	m.latched = from
	a := from
	m.remote.Store(&a) // once per latch, never per packet
}

// stashPacket keeps the current packet as the first of a restarted sequence.
func (m *MediaSession) stashPacket(gap int) {
	h := &m.pkt.Header
	s := &m.stash
	s.used, s.seq, s.ts, s.pt, s.marker = true, h.SequenceNumber, h.Timestamp, h.PayloadType, h.Marker
	m.stashBuf = append(m.stashBuf[:0], m.pkt.Payload...)
	s.n = len(m.stashBuf)
	m.stashed, m.stashGap = true, gap
}

// emit does one unit of work toward the FIFO — gap silence, one concealed
// packet or one decoded packet — and reports whether it made progress.
// When a restart is pending it drains the old sequence first, then
// restarts with the stashed packet.
func (m *MediaSession) emit(force bool) bool {
	if fifoSize-(m.wr-m.rd) < emitRoom {
		return false // the owner takes a frame first (ReadFrame always does)
	}
	if m.fillPending > 0 {
		// A gap's silence comes before the packet behind it.
		k := min(m.fillPending, emitRoom)
		clear(m.tail(k))
		m.commit(k, false)
		m.fillPending -= k
		return true
	}
	if m.concealLeft > 0 {
		m.concealLeft--
		m.conceal()
		return true
	}
	if m.stashed {
		force = true
		if m.rb.held == 0 {
			s := &m.stash
			if m.stashGap > 0 {
				m.cnt.lost.Add(uint64(m.stashGap))
			}
			m.rb.reset(s.seq)
			m.rb.push(s.seq, s.ts, s.pt, s.marker, m.stashBuf[:s.n])
			m.stashed = false
			m.haveTS = false // a new stream has its own clock
			if m.opus != nil && m.stashGap == 0 {
				m.opus.Reset()
			}
		}
	}
	if lost := m.rb.skip(force); lost > 0 {
		// The gap is concealed a packet per call, before the packet
		// behind it is decoded, so the FIFO never holds more than a unit.
		m.cnt.lost.Add(uint64(lost))
		m.concealLeft = min(lost, maxConcealPackets)
		return true
	}
	s := m.rb.peek()
	if s == nil {
		return false
	}
	if m.owesSilence(s) {
		return true
	}
	m.rb.pop()
	m.decode(s, m.rb.payload(s))
	return true
}

// owesSilence gives back as silence any time the sender skipped before
// audio packet s (its timestamp ahead of where the stream was: silence
// suppression, DTX, CN); the packet waits in the window meanwhile.
func (m *MediaSession) owesSilence(s *rtpSlot) bool {
	k := m.payloads.Load()[s.pt&0x7f]
	if !m.haveTS || (k != kindPCMU && k != kindPCMA && k != kindOpus) {
		return false
	}
	tps := ticksPerSample(k)
	gap := int32(s.ts - m.expectTS)
	if gap <= 0 || int(gap)/tps > maxGapFill || int(gap)/tps == 0 {
		return false
	}
	m.fillPending = int(gap) / tps
	m.cnt.gapFill.Add(uint64(m.fillPending))
	m.expectTS = s.ts // owed once: the packet is level with the stream now
	return true
}

// tail is room for n more samples at the FIFO's end (n ≤ the free space),
// moving the queued remainder to the front first if the end lacks it.
func (m *MediaSession) tail(n int) []int16 {
	if m.wr+n > fifoSize {
		m.compact()
	}
	return m.fifo[m.wr : m.wr+n]
}

// commit queues the n samples just written at the tail.
func (m *MediaSession) commit(n int, lost bool) {
	m.markLost(m.wr, n, lost)
	m.wr += n
}

// compact moves the queued samples and their loss bits to the front.
func (m *MediaSession) compact() {
	n := m.wr - m.rd
	copy(m.fifo[:n], m.fifo[m.rd:m.wr])
	// Word j of the destination reads source words ≥ j only, so the bits
	// move in place; bits past n are rewritten before they are read.
	for j := 0; j*64 < n; j++ {
		src := m.rd + j*64
		w, o := src>>6, uint(src&63)
		v := m.lostB[w] >> o
		if o > 0 && w+1 < len(m.lostB) {
			v |= m.lostB[w+1] << (64 - o)
		}
		m.lostB[j] = v
	}
	m.rd, m.wr = 0, n
}

// conceal writes one lost packet's worth of audio, marked lost.
func (m *MediaSession) conceal() {
	n := m.lastSamples
	m.expectTS += uint32(n * ticksPerSample(m.lastKind))
	dst := m.tail(n)
	if m.lastKind == kindOpus && m.opus != nil {
		k, err := m.opus.Conceal(dst, n)
		if err == nil {
			m.commit(min(k, n), true)
			return
		}
	}
	// G.711 has no model to extrapolate from; silence marked lost is
	// honest and the detector can discount it.
	clear(dst)
	m.commit(n, true)
}

func (m *MediaSession) decode(s *rtpSlot, p []byte) {
	kind := m.payloads.Load()[s.pt&0x7f]
	switch kind {
	case kindPCMU, kindPCMA:
		if len(p) == 0 || len(p) > dsp.OpusMaxPacketSamples {
			m.cnt.decodeErrors.Add(1)
			return
		}
		dst := m.tail(len(p))
		if kind == kindPCMU {
			dsp.DecodeMulaw(dst, p)
		} else {
			dsp.DecodeAlaw(dst, p)
		}
		m.switchKind(kind)
		m.lastSamples = len(p)
		m.audioOut(s.ts, kind, len(p))
	case kindOpus:
		if m.opus == nil && m.opusErr == nil {
			// Created on first use: most calls never negotiate Opus.
			m.opus, m.opusErr = dsp.NewOpusDecoder()
		}
		if m.opus == nil {
			m.cnt.decodeErrors.Add(1)
			return
		}
		m.switchKind(kind)
		n, err := m.opus.Decode(p, m.tail(dsp.OpusMaxPacketSamples))
		if err != nil || n == 0 {
			m.cnt.decodeErrors.Add(1)
			return
		}
		m.lastSamples = n
		m.audioOut(s.ts, kind, n)
	case kindDTMF:
		key, _, _, ok := parseDTMF(p)
		if !ok {
			return
		}
		// One key press spans many packets sharing the event's timestamp;
		// report it once.
		if m.dtmfSeen && s.ts == m.dtmfTS {
			return
		}
		m.dtmfSeen, m.dtmfTS = true, s.ts
		m.cnt.dtmf.Add(1)
		if m.dtmfN < len(m.dtmfQ) {
			m.dtmfQ[m.dtmfN] = key
			m.dtmfN++
		}
	case kindCN:
		// Comfort noise: the peer is silent; nothing to decode.
	default:
		m.cnt.unknownPT.Add(1)
	}
}

// ticksPerSample is the RTP clock ticks per 8 kHz output sample.
func ticksPerSample(k payloadKind) int {
	if k == kindOpus {
		return dsp.OpusRTPClockRate / dsp.SampleRate
	}
	return 1
}

// audioOut queues the n samples a packet decoded at the tail and moves
// the stream's clock past them (owesSilence has given back any gap).
func (m *MediaSession) audioOut(ts uint32, k payloadKind, n int) {
	m.commit(n, false)
	m.expectTS, m.haveTS = ts+uint32(n*ticksPerSample(k)), true
}

func (m *MediaSession) switchKind(k payloadKind) {
	if m.lastKind == kindOpus && k != kindOpus && m.opus != nil {
		m.opus.Reset()
	}
	m.lastKind = k
}

// markLost sets (lost) or clears the loss bits of n samples from pos.
func (m *MediaSession) markLost(pos int, n int, lost bool) {
	for n > 0 {
		i := pos
		b := i & 63
		k := min(n, 64-b)
		mask := (^uint64(0) >> (64 - k)) << b
		if lost {
			m.lostB[i>>6] |= mask
		} else {
			m.lostB[i>>6] &^= mask
		}
		pos += k
		n -= k
	}
}

// anyLost reports whether any of n samples from pos was concealed.
func (m *MediaSession) anyLost(pos int, n int) bool {
	for n > 0 {
		i := pos
		b := i & 63
		k := min(n, 64-b)
		if m.lostB[i>>6]&((^uint64(0)>>(64-k))<<b) != 0 {
			return true
		}
		pos += k
		n -= k
	}
	return false
}

// PendingDTMF pops a key that arrived after the last frame was returned.
// Keys normally ride on the next frame's FrameInfo; call this from the
// owner goroutine when ReadFrame fails (BYE, timeout) so a final key is
// not lost.
func (m *MediaSession) PendingDTMF() (rune, bool) {
	if m.dtmfN == 0 {
		return 0, false
	}
	k := m.dtmfQ[0]
	copy(m.dtmfQ[:], m.dtmfQ[1:m.dtmfN])
	m.dtmfN--
	return k, true
}

func (m *MediaSession) popFrame(pcm []int16) FrameInfo {
	var fi FrameInfo
	copy(pcm[:dsp.FrameSamples], m.fifo[m.rd:])
	fi.Lost = m.anyLost(m.rd, dsp.FrameSamples)
	if m.rd += dsp.FrameSamples; m.rd == m.wr {
		m.rd, m.wr = 0, 0 // empty: the next packet starts at the front, no move
	}
	switch m.lastKind {
	case kindPCMU:
		fi.Codec = CodecPCMU
	case kindPCMA:
		fi.Codec = CodecPCMA
	case kindOpus:
		fi.Codec = CodecOpus
	}
	fi.DTMF, _ = m.PendingDTMF()
	m.cnt.frames.Add(1)
	if fi.Lost {
		m.cnt.concealedFrames.Add(1)
	}
	return fi
}
