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

// payloadClasses are the slot sizes the window's slab grows through: 20,
// 40, 60 and 120 ms of G.711, then anything up to maxPayload. Opus voice
// at usual bitrates fits the first class; growing by classes bounds the
// slab's reallocations to a handful per call however payload sizes vary.
var payloadClasses = [...]int{160, 320, 480, 960, maxPayload}

// slotSize is the smallest class that holds n bytes (n ≤ maxPayload).
func slotSize(n int) int {
	for _, c := range payloadClasses {
		if n <= c {
			return c
		}
	}
	return maxPayload
}

// rtpSlot is one queued packet's header fields; its payload lives in the
// window's slab (payloads are copied in because the socket buffer is
// reused by the next read).
type rtpSlot struct {
	used   bool
	marker bool
	pt     uint8
	seq    uint16
	ts     uint32
	n      int
}

type pushResult int

const (
	pushQueued pushResult = iota
	pushLate              // behind the playout point: dropped
	pushDuplicate
	pushJump // too far ahead to queue: the caller drains and restarts
)

// reorderBuffer is the window. Its payload slab is allocated on the first
// packet and sized by the largest payload seen (reorderSlots × class):
// 2.5 KiB for 20 ms G.711 where fixed 1500-byte slots took 24 KiB.
type reorderBuffer struct {
	slots   [reorderSlots]rtpSlot
	slab    []byte // reorderSlots × stride bytes, nil before the first push
	stride  int
	started bool
	next    uint16 // the sequence number to emit next
	highest uint16 // highest sequence number queued so far
	held    int
}

// payload is the bytes of a queued (or just popped) slot.
func (r *reorderBuffer) payload(s *rtpSlot) []byte {
	off := int(s.seq&reorderMask) * r.stride
	return r.slab[off : off+s.n]
}

// fit makes every slot hold n bytes, moving held payloads to a larger
// slab. It runs once per class a call reaches, never in steady state.
func (r *reorderBuffer) fit(n int) {
	if n <= r.stride {
		return
	}
	stride := slotSize(n)
	slab := make([]byte, reorderSlots*stride)
	for i := range r.slots {
		if s := &r.slots[i]; s.used {
			copy(slab[i*stride:], r.slab[i*r.stride:i*r.stride+s.n])
		}
	}
	r.slab, r.stride = slab, stride
}

// reset restarts sequence tracking at seq (new SSRC or a jump).
func (r *reorderBuffer) reset(seq uint16) {
	for i := range r.slots {
		r.slots[i].used = false
	}
	r.started, r.next, r.highest, r.held = true, seq, seq, 0
}

// push queues a packet (len(payload) ≤ maxPayload). reordered reports a
// packet that arrived after a later one but still in time to be played in
// order.
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
	r.fit(len(payload))
	s.used, s.seq, s.ts, s.pt, s.marker = true, seq, ts, pt, marker
	s.n = len(payload)
	copy(r.payload(s), payload)
	r.held++
	if int16(seq-r.highest) > 0 {
		r.highest = seq
	} else if seq != r.highest {
		reordered = true
	}
	return pushQueued, reordered
}

// skip gives up on the packets missing at the playout point, when that is
// due (reorderDepth packets wait behind the gap, or force: a stall or a
// drain), and returns how many sequence numbers it declared lost. After a
// skip the playout point holds a packet. It is separate from pop so the
// caller can conceal the gap, unit by unit, before the packet behind it
// is decoded.
func (r *reorderBuffer) skip(force bool) int {
	if r.held == 0 || r.slots[r.next&reorderMask].used {
		return 0
	}
	if r.held < reorderDepth && !force {
		return 0
	}
	lost := 0
	for !r.slots[r.next&reorderMask].used {
		// Terminates: every held packet lies within reorderSlots of next.
		r.next++
		lost++
	}
	return lost
}

// peek returns the packet at the playout point, or nil while it has not
// arrived (skip decides when to stop waiting); it stays queued.
func (r *reorderBuffer) peek() *rtpSlot {
	s := &r.slots[r.next&reorderMask]
	if r.held == 0 || !s.used {
		return nil
	}
	return s
}

// pop takes the packet at the playout point off the window, or returns
// nil. The returned slot and its payload stay valid until the next push.
func (r *reorderBuffer) pop() *rtpSlot {
	s := r.peek()
	if s == nil {
		return nil
	}
	s.used = false
	r.held--
	r.next++
	return s
}
