package testphone

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/amd-engine/amd/dsp"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/pion/rtp"
)

// maxPtimeMs is the longest packet the phone sends.
const maxPtimeMs = 60

// streamer sends one call's audio as RTP paced by a 20 ms ticker, the way
// a phone's sound card clock would: random SSRC and initial sequence and
// timestamp (RFC 3550), marker on the first packet, silence after the file
// so the call's media keeps flowing until someone hangs up.
type streamer struct {
	conn    *net.UDPConn
	dst     netip.AddrPort
	format  amdsip.Format
	dtmfPT  uint8
	hasDTMF bool

	opus    *dsp.OpusEncoder
	pkt     rtp.Packet
	payload [dsp.OpusMaxPacketBytes]byte
	wire    [1500]byte
	ticks   uint32 // timestamp step per packet
	ptimeMs int    // packet duration: 10–60 ms for G.711, 20 ms for Opus
	per     int    // samples per packet
	packets int    // owned by run; read after it returns

	lossPct, reorderPct int
	rng                 *rand.Rand
	held                [1500]byte // a packet delayed behind the next one
	heldN               int
}

func (s *streamer) init() error {
	s.pkt.Header = rtp.Header{Version: 2, PayloadType: s.format.PayloadType,
		SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32(), SSRC: rand.Uint32(), Marker: true}
	if s.ptimeMs == 0 || s.format.Codec == amdsip.CodecOpus {
		s.ptimeMs = dsp.FrameMs // our Opus encoder makes 20 ms packets only
	}
	s.per = s.ptimeMs * dsp.SampleRate / 1000
	s.ticks = uint32(s.per)
	s.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	if s.format.Codec == amdsip.CodecOpus {
		enc, err := dsp.NewOpusEncoder(24000)
		if err != nil {
			return fmt.Errorf("testphone: opus encoder: %w", err)
		}
		s.opus = enc
		s.ticks = dsp.OpusRTPTicksPerFrame
	}
	return nil
}

// run streams pcm, then the DTMF digits, then silence until ctx ends;
// fileDone closes when the file and digits have been sent.
func (s *streamer) run(ctx context.Context, pcm []int16, digits string, fileDone chan<- struct{}) {
	tick := time.NewTicker(time.Duration(s.ptimeMs) * time.Millisecond)
	defer tick.Stop()
	var buf [maxPtimeMs * dsp.SampleRate / 1000]int16
	frame := buf[:s.per]
	pos := 0
	doneSent := false
	dtmfQueue := []rune(digits)
	for {
		switch {
		case pos < len(pcm):
			n := copy(frame, pcm[pos:])
			clear(frame[n:])
			pos += s.per
			s.sendAudio(frame)
		case len(dtmfQueue) > 0 && s.hasDTMF:
			if !s.sendDigit(ctx, tick, dtmfQueue[0]) {
				return
			}
			dtmfQueue = dtmfQueue[1:]
			continue
		default:
			if !doneSent {
				close(fileDone)
				doneSent = true
			}
			clear(frame)
			s.sendAudio(frame)
		}
		select {
		case <-ctx.Done():
			if !doneSent {
				close(fileDone)
			}
			return
		case <-tick.C:
		}
	}
}

func (s *streamer) sendAudio(frame []int16) {
	var n int
	switch s.format.Codec {
	case amdsip.CodecPCMU:
		n = dsp.EncodeMulaw(s.payload[:], frame)
	case amdsip.CodecPCMA:
		n = dsp.EncodeAlaw(s.payload[:], frame)
	case amdsip.CodecOpus:
		var err error
		if n, err = s.opus.Encode(frame, s.payload[:]); err != nil {
			n = 0
		}
	}
	s.pkt.PayloadType = s.format.PayloadType
	s.send(s.payload[:n])
	s.pkt.Timestamp += s.ticks
}

// sendDigit sends one RFC 4733 event of 100 ms: five updates sharing the
// event's timestamp, then the end packet three times (as the RFC asks, for
// loss), then 40 ms of pause.
func (s *streamer) sendDigit(ctx context.Context, tick *time.Ticker, d rune) bool {
	const keys = "0123456789*#ABCD"
	var ev byte
	for i, k := range keys {
		if k == d {
			ev = byte(i)
		}
	}
	s.pkt.PayloadType = s.dtmfPT
	start := s.pkt.Timestamp
	ts := s.pkt.Timestamp
	for i := 1; i <= 8; i++ {
		dur := uint16(min(i, 5) * s.per)
		end := byte(0)
		if i >= 5 {
			end = 0x80
		}
		s.pkt.Timestamp = start
		s.send([]byte{ev, end | 10, byte(dur >> 8), byte(dur)})
		ts += s.ticks // the media clock keeps running through the event
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	s.pkt.Timestamp = ts
	return true
}

func (s *streamer) send(payload []byte) {
	s.pkt.Payload = payload
	n, err := s.pkt.MarshalTo(s.wire[:])
	s.pkt.SequenceNumber++
	s.pkt.Marker = false
	if err != nil {
		return
	}
	switch {
	case s.lossPct > 0 && s.rng.IntN(100) < s.lossPct:
		return // lost in the network
	case s.heldN > 0:
		// The delayed packet arrives right after its successor.
		s.write(s.wire[:n])
		s.write(s.held[:s.heldN])
		s.heldN = 0
	case s.reorderPct > 0 && s.rng.IntN(100) < s.reorderPct:
		s.heldN = copy(s.held[:], s.wire[:n])
	default:
		s.write(s.wire[:n])
	}
}

func (s *streamer) write(b []byte) {
	if _, err := s.conn.WriteToUDPAddrPort(b, s.dst); err == nil {
		s.packets++
	}
}
