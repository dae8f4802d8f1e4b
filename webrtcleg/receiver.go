package webrtcleg

import (
	"fmt"
	"sync/atomic"

	"github.com/amd-engine/amd/dsp"
	"github.com/pion/rtp"
)

// Opus RTP runs a 48 kHz clock whatever the coded bandwidth (RFC 7587);
// the detector runs at 8 kHz, so one output sample is six RTP ticks.
const ticksPerSample = dsp.OpusRTPClockRate / dsp.SampleRate

const (
	// maxGapPackets is the longest sequence gap the receiver bridges with
	// concealment (1 s of 20 ms packets). A longer jump is a restarted or
	// broken stream: concealing seconds of audio would invent a greeting's
	// silence, so the receiver resynchronises instead and counts the loss.
	maxGapPackets = 50
	// maxSilenceSamples bounds the silence inserted for a timestamp jump
	// with contiguous sequence numbers (DTX, a muted sender): 2 s. The
	// detector's word and silence timers run in audio time, so a pause the
	// sender did not transmit must still be heard as a pause.
	maxSilenceSamples = 2 * dsp.SampleRate
	// defaultPacketSamples is the packet duration assumed before the first
	// packet decodes (20 ms, what every browser sends).
	defaultPacketSamples = dsp.FrameSamples
)

// counters are a session's media counters, written by track goroutines and
// read by the call's owner (atomics: no lock on the packet path).
type counters struct {
	packets      atomic.Uint64
	lost         atomic.Uint64
	late         atomic.Uint64
	decodeErrors atomic.Uint64
	malformed    atomic.Uint64
	concealed    atomic.Uint64 // 20 ms frames' worth of samples made up (PLC, FEC, DTX silence)
	overruns     atomic.Uint64 // frames dropped because the owner fell behind
	frames       atomic.Uint64 // frames delivered
}

// receiver turns one track's RTP packets into 20 ms, 8 kHz frames: loss
// concealment (or in-band FEC) for sequence gaps, drops for late and
// duplicate packets, silence for timestamp jumps. It is owned by the
// track's goroutine; nothing in it is shared except the counters, and
// push allocates nothing on the success path.
type receiver struct {
	dec dsp.Decoder
	fec dsp.FECDecoder // dec's FEC face, nil when it has none
	out func(*[dsp.FrameSamples]int16)
	cnt *counters

	pkt   rtp.Packet
	pcm   [dsp.OpusMaxPacketSamples]int16
	frame [dsp.FrameSamples]int16
	fill  int

	started     bool
	nextSeq     uint16
	nextTS      uint32
	lastSamples int
}

func newReceiver(dec dsp.Decoder, cnt *counters, out func(*[dsp.FrameSamples]int16)) *receiver {
	r := &receiver{dec: dec, out: out, cnt: cnt, lastSamples: defaultPacketSamples}
	r.fec, _ = dec.(dsp.FECDecoder)
	return r
}

// push takes one RTP packet as read from the track. Errors are per packet
// (malformed RTP, undecodable Opus): they are counted and the stream goes
// on, so the caller only logs them.
func (r *receiver) push(raw []byte) error {
	if err := r.pkt.Unmarshal(raw); err != nil {
		r.cnt.malformed.Add(1)
		return fmt.Errorf("%w: rtp: %w", ErrBadPacket, err)
	}
	payload := r.pkt.Payload
	if len(payload) == 0 {
		// Padding-only packets (bandwidth probes) carry no audio.
		return nil
	}
	r.cnt.packets.Add(1)
	seq, ts := r.pkt.SequenceNumber, r.pkt.Timestamp
	if !r.started {
		r.started = true
		r.nextSeq, r.nextTS = seq, ts
	}
	switch gap := int16(seq - r.nextSeq); {
	case gap < 0:
		// Older than what we already played out: there is no jitter buffer
		// to put it back into, so it only counts.
		r.cnt.late.Add(1)
		return nil
	case gap > maxGapPackets:
		r.cnt.lost.Add(uint64(gap))
	case gap > 0:
		r.cnt.lost.Add(uint64(gap))
		if err := r.bridge(int(gap), payload); err != nil {
			return err
		}
	default:
		// In order. A timestamp further on than the last packet's end is
		// a pause the sender did not transmit (DTX).
		if jump := int32(ts - r.nextTS); jump > 0 {
			r.silence(min(int(jump)/ticksPerSample, maxSilenceSamples))
		}
	}
	n, err := r.dec.Decode(payload, r.pcm[:])
	if err != nil {
		r.cnt.decodeErrors.Add(1)
		// Keep the clock: conceal what the packet should have held.
		n, _ = r.dec.Conceal(r.pcm[:], r.lastSamples)
		r.append(r.pcm[:n])
		r.advance(seq, ts, r.lastSamples)
		return fmt.Errorf("%w: seq %d: %w", ErrBadPacket, seq, err)
	}
	r.append(r.pcm[:n])
	r.advance(seq, ts, n)
	return nil
}

func (r *receiver) advance(seq uint16, ts uint32, samples int) {
	r.nextSeq = seq + 1
	r.nextTS = ts + uint32(samples*ticksPerSample)
	if samples > 0 {
		r.lastSamples = samples
	}
}

// bridge fills a gap of `lost` packets before payload: concealment for
// all but the last, which in-band FEC in payload (browsers send it) can
// rebuild more faithfully.
func (r *receiver) bridge(lost int, payload []byte) error {
	for i := 0; i < lost; i++ {
		var (
			n   int
			err error
		)
		if i == lost-1 && r.fec != nil {
			n, err = r.fec.DecodeFEC(payload, r.pcm[:], r.lastSamples)
		} else {
			n, err = r.dec.Conceal(r.pcm[:], r.lastSamples)
		}
		if err != nil {
			r.cnt.decodeErrors.Add(1)
			return fmt.Errorf("%w: conceal: %w", ErrBadPacket, err)
		}
		r.cnt.concealed.Add(uint64(n))
		r.append(r.pcm[:n])
	}
	return nil
}

// silence appends n zero samples.
func (r *receiver) silence(n int) {
	r.cnt.concealed.Add(uint64(n))
	for n > 0 {
		k := min(n, dsp.FrameSamples-r.fill)
		clear(r.frame[r.fill : r.fill+k])
		r.fill += k
		n -= k
		if r.fill == dsp.FrameSamples {
			r.flush()
		}
	}
}

// append adds decoded samples, handing every completed 20 ms frame on:
// packets of 10, 40 or 60 ms land on the detector's 20 ms grid.
func (r *receiver) append(s []int16) {
	for len(s) > 0 {
		k := copy(r.frame[r.fill:], s)
		r.fill += k
		s = s[k:]
		if r.fill == dsp.FrameSamples {
			r.flush()
		}
	}
}

func (r *receiver) flush() {
	r.out(&r.frame)
	r.fill = 0
}
