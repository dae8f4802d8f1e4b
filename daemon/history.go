package daemon

import (
	"fmt"
	"slices"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
)

// Defaults of the call history kept for subscribe.
const (
	// DefaultHistoryRetention is how long an ended call's history stays
	// answerable: long enough for a client (amdgw) to restart after a
	// kill -9 and re-subscribe to the calls it had open.
	DefaultHistoryRetention = 10 * time.Minute
	// DefaultHistoryMaxEnded bounds how many ended calls are retained at
	// once, whatever their age: the oldest go first. A history is a few KB,
	// so the default bounds the memory to tens of MB under a burst.
	DefaultHistoryMaxEnded = 10000
	// maxHistoryEntries bounds one call's history. A call sends at most four
	// statuses and, normally, under ten AMD events; beyond the bound AMD
	// events are dropped (counted) but statuses are always kept, the final
	// one above all.
	maxHistoryEntries = 48
)

// callHistory is an immutable snapshot of what a call has published. The
// owner goroutine builds a new snapshot per message and stores it in
// callRun.hist (an atomic pointer), so readers need no lock and the media
// path takes none. Snapshots share entries' backing array: the owner only
// ever appends past the length of every published snapshot, and never
// changes an element a snapshot can see.
type callHistory struct {
	status  call.Status
	ended   bool
	endedAt time.Time
	entries []control.HistoryEntry
	seq     int // messages published, dropped ones included
	dropped int
}

// with returns the snapshot after one more published message (exactly one
// of st and ev set); h is not changed.
func (h *callHistory) with(st *control.CallStatus, ev *control.AMDEvent, now time.Time) *callHistory {
	n := &callHistory{}
	if h != nil {
		*n = *h
	}
	n.seq++
	if st == nil && len(n.entries) >= maxHistoryEntries-4 {
		// Room stays for the statuses a call can still send.
		n.dropped++
		return n
	}
	if n.entries == nil {
		n.entries = make([]control.HistoryEntry, 0, 8)
	}
	n.entries = append(n.entries, control.HistoryEntry{Seq: n.seq, Status: st, AMD: ev})
	if st != nil {
		n.status = st.Status
		if st.Status.Final() {
			n.ended, n.endedAt = true, now
		}
	}
	return n
}

// state is the wire form; the entries are copied so the caller may keep
// them (the messages they point to are never changed after publication).
func (h *callHistory) state() control.CallState {
	if h == nil {
		return control.CallState{History: []control.HistoryEntry{}}
	}
	return control.CallState{Status: h.status, Ended: h.ended, History: slices.Clone(h.entries), Dropped: h.dropped}
}

// recordStatus and recordAMD add a message to the call's history; the
// owner calls them before publishing the message, so a subscriber that
// reads the history and then starts receiving events misses nothing.
func (r *callRun) recordStatus(st *control.CallStatus) {
	r.hist.Store(r.hist.Load().with(st, nil, r.m.cfg.Now()))
}

func (r *callRun) recordAMD(ev *control.AMDEvent) {
	r.hist.Store(r.hist.Load().with(nil, ev, r.m.cfg.Now()))
}

// retained is an ended call's history kept after its owner returned.
type retained struct {
	id   string
	hist *callHistory
}

// retire moves a finished call from the live calls to the retained ones
// (when it published its final status), pruning those past the retention
// or the count bound. Only the history is kept, not the call's buffers.
func (m *Manager) retire(r *callRun) {
	h := r.hist.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.calls[r.id] == r {
		delete(m.calls, r.id)
	}
	if h == nil || !h.ended {
		return
	}
	e := &retained{id: r.id, hist: h}
	m.ended[r.id] = e
	m.endedOrder = append(m.endedOrder, e)
	m.pruneLocked(m.cfg.Now())
}

// pruneLocked forgets retained calls older than the retention, then the
// oldest beyond the count bound. endedOrder is in end order, so both stop
// at the first call they keep. m.mu is held.
func (m *Manager) pruneLocked(now time.Time) {
	i := 0
	for ; i < len(m.endedOrder); i++ {
		e := m.endedOrder[i]
		if now.Sub(e.hist.endedAt) < m.cfg.HistoryRetention && len(m.endedOrder)-i <= m.cfg.HistoryMaxEnded {
			break
		}
		if m.ended[e.id] == e { // not replaced by a later call with the same ID
			delete(m.ended, e.id)
		}
		m.endedOrder[i] = nil
	}
	if i == 0 {
		return
	}
	m.endedOrder = m.endedOrder[i:]
	if cap(m.endedOrder) > 64 && len(m.endedOrder) < cap(m.endedOrder)/4 {
		// Give the pruned prefix back instead of creeping through the array.
		m.endedOrder = slices.Clone(m.endedOrder)
	}
}

var _ control.CallStater = (*Manager)(nil)

// CallState answers subscribe: a live call's history so far, or an ended
// call's within the retention; otherwise an error wrapping
// control.ErrUnknownCall. It never blocks on a call's owner.
func (m *Manager) CallState(callID string) (control.CallState, error) {
	m.mu.Lock()
	var h *callHistory
	known := false
	if run := m.calls[callID]; run != nil {
		h, known = run.hist.Load(), true
	} else {
		m.pruneLocked(m.cfg.Now())
		if e := m.ended[callID]; e != nil {
			h, known = e.hist, true
		}
	}
	m.mu.Unlock()
	if !known {
		return control.CallState{}, fmt.Errorf("call %q: %w", callID, control.ErrUnknownCall)
	}
	return h.state(), nil
}

// RetainedCalls reports how many ended calls' histories are kept (metrics, tests).
func (m *Manager) RetainedCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ended)
}
