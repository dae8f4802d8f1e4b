package sip

// The reorder window puts packets back in sequence order without a clock:
// a missing packet is waited for until reorderDepth later packets are
// queued behind it (80 ms at 20 ms ptime), then declared lost. A stall is
// flushed by the media session after reorderHoldMax of silence. Counting
// packets instead of running a jitter clock keeps the path cheap and makes
// the added delay proportional to the disorder actually seen.
const (
	reorderSlots = 16 // power of two; the furthest ahead a packet may be and still wait
	reorderMask  = reorderSlots - 1
	reorderDepth = 4
	// maxPayload is the largest RTP payload we keep; anything larger is
	// not audio we know and is counted as malformed.
	maxPayload = 1500
)

// rtpSlot holds one queued packet; payload is copied in because the socket
// buffer is reused by the next read.
type rtpSlot struct {
	used   bool
	seq    uint16
	ts     uint32
	pt     uint8
	n      int
	buf    [maxPayload]byte
	marker bool
}

func (s *rtpSlot) payload() []byte { return s.buf[:s.n] }

type pushResult int

const (
	pushQueued pushResult = iota
	pushLate              // behind the playout point: dropped
	pushDuplicate
	pushJump // too far ahead to queue: the caller drains and restarts
)

type reorderBuffer struct {
	slots   [reorderSlots]rtpSlot
	started bool
	next    uint16 // the sequence number to emit next
	highest uint16 // highest sequence number queued so far
	held    int
}

// reset restarts sequence tracking at seq (new SSRC or a jump).
func (r *reorderBuffer) reset(seq uint16) {
	for i := range r.slots {
		r.slots[i].used = false
	}
	r.started, r.next, r.highest, r.held = true, seq, seq, 0
}

// push queues a packet. reordered reports a packet that arrived after a
// later one but still in time to be played in order.
func (r *reorderBuffer) push(seq uint16, ts uint32, pt uint8, marker bool, payload []byte) (res pushResult, reordered bool) {
	if !r.started {
		r.reset(seq)
	}
	diff := int16(seq - r.next)
	if diff < 0 {
		return pushLate, false
	}
	if int(diff) >= reorderSlots {
		return pushJump, false
	}
	s := &r.slots[seq&reorderMask]
	if s.used {
		return pushDuplicate, false
	}
	s.used, s.seq, s.ts, s.pt, s.marker = true, seq, ts, pt, marker
	s.n = copy(s.buf[:], payload)
	r.held++
	if int16(seq-r.highest) > 0 {
		r.highest = seq
	} else if seq != r.highest {
		reordered = true
	}
	return pushQueued, reordered
}

// pop returns the next packet to play and how many sequence numbers were
// skipped (lost) to reach it, or nil when the packet at the playout point
// is still worth waiting for. force gives up waiting (stall, drain). The
// returned slot stays valid until the next push.
func (r *reorderBuffer) pop(force bool) (*rtpSlot, int) {
	if r.held == 0 {
		return nil, 0
	}
	s := &r.slots[r.next&reorderMask]
	if !s.used && r.held < reorderDepth && !force {
		return nil, 0
	}
	lost := 0
	for !s.used {
		// Terminates: every held packet lies within reorderSlots of next.
		r.next++
		lost++
		s = &r.slots[r.next&reorderMask]
	}
	s.used = false
	r.held--
	r.next++
	return s, lost
}
