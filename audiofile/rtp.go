package audiofile

import (
	"bufio"
	"cmp"
	"errors"
	"slices"

	"github.com/pion/rtp"

	"github.com/amd-engine/amd/dsp"
)

// RTP extraction from captures: every UDP payload that parses as RTP
// version 2 (and is not RTCP) is kept; the stream with the most packets
// (the dominant SSRC) is ordered by extended sequence number and decoded on
// its own timeline, placing each packet at its RTP timestamp.

const (
	// maxRTPBytes bounds the RTP payload kept from a capture: 30 minutes
	// of Opus at its maximum rate fits; a capture full of video does not.
	maxRTPBytes = 128 << 20
	// maxRTPPackets bounds the packet index the same way.
	maxRTPPackets = 4 << 20
	// maxSilenceJumpMs is the longest timestamp jump with contiguous
	// sequence numbers taken at face value (silence suppression); a larger
	// jump is a lying or reset timestamp and the gap is estimated from the
	// sequence numbers instead.
	maxSilenceJumpMs = 30_000
	// maxPacketMs is the longest packet duration assumed per lost packet.
	maxPacketMs = 120
	// maxConcealMs is how much Opus concealment is run for one gap; PLC
	// has faded to silence by then, the rest of the gap is plain zeros.
	maxConcealMs = 1000
	// ptCN is the static comfort-noise payload type (RFC 3389).
	ptCN = 13
)

type rtpPkt struct {
	ext    int64 // extended sequence number
	ssrc   uint32
	ts     uint32
	seq    uint16
	pt     uint8
	off, n int32 // payload location in the arena
}

type rtpCollector struct {
	pkts  []rtpPkt
	arena []byte
	p     rtp.Packet // reused for every Unmarshal
}

func (c *rtpCollector) add(b []byte) error {
	// RTP version 2, and not RTCP: RFC 5761 puts RTCP packet types 192–223
	// in the second byte; STUN (00), DTLS (20–63) and ZRTP fail the
	// version bits.
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return nil
	}
	if err := c.p.Unmarshal(b); err != nil || len(c.p.Payload) == 0 {
		return nil
	}
	if len(c.pkts) >= maxRTPPackets || len(c.arena)+len(c.p.Payload) > maxRTPBytes {
		return errorf(ErrTooLong, "pcap: capture holds more than %d MB of RTP", maxRTPBytes>>20)
	}
	c.pkts = append(c.pkts, rtpPkt{
		ssrc: c.p.SSRC,
		ts:   c.p.Timestamp,
		seq:  c.p.SequenceNumber,
		pt:   c.p.PayloadType,
		off:  int32(len(c.arena)),
		n:    int32(len(c.p.Payload)),
	})
	c.arena = append(c.arena, c.p.Payload...)
	return nil
}

func (c *rtpCollector) payload(p *rtpPkt) []byte { return c.arena[p.off : p.off+p.n] }

// maxStreamsTried bounds how many SSRCs are tried when the biggest ones
// carry something other than audio we decode (video, G.729, …).
const maxStreamsTried = 8

// decodePcap reads a capture and decodes its dominant audio RTP stream:
// the SSRC with the most packets among those whose payload we can decode.
func decodePcap(r *bufio.Reader) (*Audio, error) {
	c := &rtpCollector{}
	if err := readCapture(r, c.add); err != nil {
		return nil, err
	}
	streams := c.streams()
	if len(streams) == 0 {
		return nil, errorf(ErrEmpty, "pcap: no RTP stream found")
	}
	var firstErr error
	for _, s := range streams[:min(len(streams), maxStreamsTried)] {
		a, err := c.decodeStream(s)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		if firstErr == nil {
			firstErr = err // report why the dominant stream was refused
		}
	}
	return nil, firstErr
}

// decodeStream orders one SSRC's packets and decodes them.
func (c *rtpCollector) decodeStream(stream []rtpPkt) (*Audio, error) {
	// Extend sequence numbers across wrap in arrival order, then sort.
	maxExt := int64(stream[0].seq)
	for i := range stream {
		d := int64(int16(stream[i].seq - uint16(maxExt)))
		stream[i].ext = maxExt + d
		maxExt = max(maxExt, stream[i].ext)
	}
	slices.SortStableFunc(stream, func(a, b rtpPkt) int { return cmp.Compare(a.ext, b.ext) })
	stream = slices.CompactFunc(stream, func(a, b rtpPkt) bool { return a.ext == b.ext }) // duplicates

	pt := mainPayloadType(stream)
	var (
		format Format
		clock  int
	)
	switch {
	case pt == 0:
		format, clock = FormatPcapPCMU, dsp.SampleRate
	case pt == 8:
		format, clock = FormatPcapPCMA, dsp.SampleRate
	case pt >= 96 && pt <= 127:
		if step, ok := c.looksLikeOpus(stream, pt); !ok {
			return nil, errorf(ErrUnsupported, "unsupported format: RTP dynamic payload type %d is not Opus (timestamp step %d)", pt, step)
		}
		format, clock = FormatPcapOpus, dsp.OpusRTPClockRate
	default:
		return nil, errorf(ErrUnsupported, "unsupported format: RTP payload type %d (%s)", pt, staticPTName(pt))
	}
	out, err := c.render(stream, pt, format, clock)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errorf(ErrEmpty, "pcap: RTP stream holds no audio")
	}
	return &Audio{Samples: out, Format: format, SourceRate: clock, Channels: 1}, nil
}

// streams groups packets by SSRC (arrival order kept) and returns the
// groups of at least two packets, most packets first; ties go to the SSRC
// seen first.
func (c *rtpCollector) streams() [][]rtpPkt {
	idx := make(map[uint32]int)
	var counts []int
	for _, p := range c.pkts {
		i, ok := idx[p.ssrc]
		if !ok {
			i = len(counts)
			idx[p.ssrc] = i
			counts = append(counts, 0)
		}
		counts[i]++
	}
	groups := make([][]rtpPkt, len(counts))
	for _, p := range c.pkts {
		i := idx[p.ssrc]
		if counts[i] < 2 {
			continue
		}
		if groups[i] == nil {
			groups[i] = make([]rtpPkt, 0, counts[i])
		}
		groups[i] = append(groups[i], p)
	}
	groups = slices.DeleteFunc(groups, func(g []rtpPkt) bool { return g == nil })
	slices.SortStableFunc(groups, func(a, b []rtpPkt) int { return cmp.Compare(len(b), len(a)) })
	return groups
}

// mainPayloadType is the most frequent payload type other than comfort
// noise; telephone-events and CN interleave with the audio but are few.
func mainPayloadType(s []rtpPkt) uint8 {
	var counts [128]int
	for _, p := range s {
		counts[p.pt&0x7F]++
	}
	best := uint8(0)
	for pt := range counts {
		if pt != ptCN && counts[pt] > counts[best] {
			best = uint8(pt)
		}
	}
	return best
}

// looksLikeOpus decides from the RTP clock whether a dynamic payload type
// carries Opus: Opus always runs a 48 kHz RTP clock, so the timestamp step
// between consecutive packets is the packet's duration in 48 kHz ticks
// (960 for 20 ms), which its TOC byte also tells. It returns the median
// step it saw.
func (c *rtpCollector) looksLikeOpus(s []rtpPkt, pt uint8) (int, bool) {
	steps := make([]int, 0, min(len(s), 512))
	agree, checked := 0, 0
	for i := 1; i < len(s) && checked < 512; i++ {
		a, b := &s[i-1], &s[i]
		if a.pt != pt || b.pt != pt || b.ext != a.ext+1 {
			continue
		}
		step := int(int32(b.ts - a.ts))
		steps = append(steps, step)
		checked++
		if n, err := dsp.OpusPacketSamples(c.payload(a)); err == nil && n*opusDecimation == step {
			agree++
		}
	}
	if checked == 0 {
		// Too few consecutive packets to see the clock: trust the TOC.
		n, err := dsp.OpusPacketSamples(c.payload(&s[0]))
		return n * opusDecimation, err == nil
	}
	slices.Sort(steps)
	median := steps[len(steps)/2]
	// DTX and silence suppression stretch some steps; most must agree.
	return median, median > 0 && median%120 == 0 && agree*2 > checked
}

// render places every packet of payload type pt at its timestamp and
// decodes it, filling gaps with silence (G.711) or concealment (Opus).
func (c *rtpCollector) render(s []rtpPkt, pt uint8, format Format, clock int) ([]int16, error) {
	div := clock / dsp.SampleRate
	var dec dsp.Decoder
	if format == FormatPcapOpus {
		var err error
		if dec, err = dsp.NewOpusDecoder(); err != nil {
			return nil, err
		}
	}
	out := make([]int16, 0, min(len(s)*dsp.FrameSamples, 1<<20))
	pcm := make([]int16, dsp.OpusMaxPacketSamples)
	var (
		prev    *rtpPkt
		prevPos int64 // output position of prev's first sample
		prevDur int64 = dsp.FrameSamples
	)
	for i := range s {
		p := &s[i]
		if p.pt != pt {
			continue // CN, telephone-event, …: their time becomes a gap
		}
		pos := int64(len(out))
		if prev != nil {
			seqGap := p.ext - prev.ext
			tsDelta := int64(int32(p.ts-prev.ts)) / int64(div)
			limit := seqGap*maxPacketMs*dsp.SampleRate/1000 + maxSilenceJumpMs*dsp.SampleRate/1000
			if tsDelta <= 0 || tsDelta > limit {
				// Timestamp reset or lie: assume packets of the last
				// duration were lost.
				tsDelta = seqGap * prevDur
			}
			pos = prevPos + tsDelta
		}
		if pos > int64(maxSamples) {
			return nil, errorf(ErrTooLong, "pcap: audio longer than %d minutes", MaxDurationMs/60000)
		}
		if gap := pos - int64(len(out)); gap > 0 {
			var err error
			if out, err = fillGap(out, int(gap), dec, pcm); err != nil {
				return nil, err
			}
		}
		// An overlapping packet (pos < len(out)) is appended where the
		// timeline is; it can only come from a sender's clock hiccup.
		start := len(out)
		payload := c.payload(p)
		switch format {
		case FormatPcapPCMU, FormatPcapPCMA:
			out = slices.Grow(out, len(payload))
			n := len(out)
			out = out[:n+len(payload)]
			if format == FormatPcapPCMU {
				dsp.DecodeMulaw(out[n:], payload)
			} else {
				dsp.DecodeAlaw(out[n:], payload)
			}
		case FormatPcapOpus:
			n, err := dec.Decode(payload, pcm)
			if err != nil {
				// A damaged packet is a lost packet.
				if n, err = dec.Conceal(pcm, dsp.FrameSamples); err != nil {
					return nil, err
				}
			}
			out = append(out, pcm[:n]...)
		}
		prev, prevPos, prevDur = p, int64(start), int64(len(out)-start)
		if len(out) > maxSamples {
			return nil, errorf(ErrTooLong, "pcap: audio longer than %d minutes", MaxDurationMs/60000)
		}
	}
	return out, nil
}

// fillGap appends gap samples of silence, or for Opus of decoder
// concealment (in packets of at most 120 ms, multiples of 2.5 ms) for up
// to maxConcealMs and silence after that.
func fillGap(out []int16, gap int, dec dsp.Decoder, pcm []int16) ([]int16, error) {
	if dec != nil {
		const quantum = dsp.SampleRate / 400 // 2.5 ms
		budget := min(gap, maxConcealMs*dsp.SampleRate/1000)
		for budget >= quantum {
			n := min(budget, dsp.OpusMaxPacketSamples)
			n -= n % quantum
			got, err := dec.Conceal(pcm, n)
			if err != nil {
				return nil, err
			}
			out = append(out, pcm[:got]...)
			budget -= got
			gap -= got
			if got == 0 {
				break
			}
		}
	}
	if gap > 0 {
		out = slices.Grow(out, gap)
		n := len(out)
		out = out[:n+gap]
		clear(out[n:])
	}
	return out, nil
}

// staticPTName names the static RTP payload types (RFC 3551) for messages.
func staticPTName(pt uint8) string {
	switch pt {
	case 3:
		return "GSM"
	case 4:
		return "G.723"
	case 5, 6, 16, 17:
		return "DVI4"
	case 7:
		return "LPC"
	case 9:
		return "G.722"
	case 10, 11:
		return "L16"
	case 12:
		return "QCELP"
	case 13:
		return "comfort noise only"
	case 14:
		return "MPEG audio"
	case 15:
		return "G.728"
	case 18:
		return "G.729"
	case 25, 26, 28, 31, 32, 33, 34:
		return "video"
	}
	return "unassigned"
}
