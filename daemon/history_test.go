package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// teePublisher records every message (the truth the ack is compared with)
// and forwards it to the control server, as the service wires it.
type teePublisher struct {
	rec *recorder
	srv atomic.Pointer[control.Server]
}

func (p *teePublisher) Publish(id string, msg any) {
	p.rec.Publish(id, msg)
	p.srv.Load().Publish(id, msg)
}

func (p *teePublisher) Forget(id string) { p.rec.Forget(id); p.srv.Load().Forget(id) }

// historyEnv is a manager behind a real control server, with a clock the
// test can move forward.
type historyEnv struct {
	*testEnv
	skew atomic.Int64 // added to the wall clock, ns
	url  string
}

func newHistoryEnv(t *testing.T, cfg Config) *historyEnv {
	t.Helper()
	h := &historyEnv{}
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }
	script := map[int64][]engine.Event{20: {ev(engine.EventHumanDetected, engine.ReasonShortGreeting, 400)}}
	h.testEnv = newEnv(t, cfg, func(DialRequest) *fakeCall {
		m := &fakeMedia{}
		m.frames.Store(-1)
		m.pace = time.Millisecond
		return newFakeCall(m)
	}, script, 0)
	tee := &teePublisher{rec: h.rec}
	h.m.pub = tee
	srv := control.NewServer(h.m)
	tee.srv.Store(srv)
	hs := httptest.NewServer(srv)
	h.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	// Cleanups run last-in first-out: the server goes before the manager's
	// shutdown registered by newEnv, which is fine: nothing waits on it.
	t.Cleanup(func() { _ = srv.Close(); hs.Close() })
	return h
}

// subscribe asks a fresh control connection for callID's state.
func (h *historyEnv) subscribe(t *testing.T, callID string) (*control.CallState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := control.Connect(ctx, h.url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.SubscribeState(ctx, callID)
}

// sameHistory checks that st replays exactly what the call published.
func sameHistory(t *testing.T, st *control.CallState, published []any) {
	t.Helper()
	if st == nil {
		t.Fatal("ack without state")
	}
	if len(st.History) != len(published) {
		t.Fatalf("history of %d entries, the call published %d: %s", len(st.History), len(published), summary(published))
	}
	for i, e := range st.History {
		var got any = e.Status
		if e.AMD != nil {
			got = e.AMD
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(published[i])
		if e.Seq != i+1 || string(a) != string(b) {
			t.Fatalf("entry %d (seq %d):\n got %s\nwant %s", i, e.Seq, a, b)
		}
	}
}

// TestSubscribeReplaysHistory: the ack of a subscribe carries what the
// call published — while it lives, after it ended within the retention —
// and unknown_call for a call never dialled or forgotten.
func TestSubscribeReplaysHistory(t *testing.T) {
	const retention = time.Minute
	h := newHistoryEnv(t, Config{HistoryRetention: retention, HistoryMaxEnded: 2})

	live := h.dial(t, control.Dial{CallID: "live"})
	c := h.d.get(live)
	c.progress <- Progress{Kind: ProgressRinging}
	c.progress <- Progress{Kind: ProgressAnswered}
	h.rec.waitFor(t, live, 5*time.Second, isEvent(engine.EventHumanDetected))

	ended := h.dial(t, control.Dial{CallID: "ended"})
	h.d.get(ended).progress <- Progress{Kind: ProgressFailed, Err: errBusy}
	h.rec.waitFinal(t, ended, 5*time.Second)
	waitRetained(t, h.m, 1)

	t.Run("live call", func(t *testing.T) {
		st, err := h.subscribe(t, live)
		if err != nil {
			t.Fatal(err)
		}
		if st.Ended || st.Status != call.StatusAnswered {
			t.Fatalf("state ended=%v status=%s", st.Ended, st.Status)
		}
		sameHistory(t, st, h.rec.get(live))
		if got := summary(h.rec.get(live)); got != "trying ringing answered amd_human_detected" {
			t.Fatalf("published %s", got)
		}
	})
	t.Run("ended call within retention", func(t *testing.T) {
		st, err := h.subscribe(t, ended)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Ended || st.Status != call.StatusFailed {
			t.Fatalf("state ended=%v status=%s", st.Ended, st.Status)
		}
		sameHistory(t, st, h.rec.get(ended))
		if f := st.History[len(st.History)-1].Status; f == nil || f.Reason != "486 Busy Here" {
			t.Fatalf("last entry %+v", st.History[len(st.History)-1])
		}
	})
	t.Run("never dialled", func(t *testing.T) {
		if _, err := h.subscribe(t, "nobody"); !errors.Is(err, control.ErrUnknownCall) {
			t.Fatalf("err %v, want unknown_call", err)
		}
	})
	t.Run("the live call ends and stays answerable", func(t *testing.T) {
		c.progress <- Progress{Kind: ProgressRemoteBye}
		h.rec.waitFinal(t, live, 5*time.Second)
		waitRetained(t, h.m, 2)
		st, err := h.subscribe(t, live)
		if err != nil {
			t.Fatal(err)
		}
		sameHistory(t, st, h.rec.get(live))
		if !st.Ended || st.Status != call.StatusCompleted {
			t.Fatalf("state ended=%v status=%s", st.Ended, st.Status)
		}
	})
	t.Run("count bound forgets the oldest", func(t *testing.T) {
		third := h.dial(t, control.Dial{CallID: "third"})
		h.d.get(third).progress <- Progress{Kind: ProgressFailed, Err: errBusy}
		h.rec.waitFinal(t, third, 5*time.Second)
		waitRetained(t, h.m, 2)
		if _, err := h.subscribe(t, ended); !errors.Is(err, control.ErrUnknownCall) {
			t.Fatalf("oldest ended call: err %v, want unknown_call (max 2 retained)", err)
		}
		for _, id := range []string{live, third} {
			if _, err := h.subscribe(t, id); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
		if v := metricValue(t, h.m.Metrics().Registry, "amd_call_histories_retained"); v != 2 {
			t.Fatalf("amd_call_histories_retained %v, want 2", v)
		}
	})
	t.Run("past the retention", func(t *testing.T) {
		h.skew.Store(int64(retention + time.Second))
		for _, id := range []string{live, "third"} {
			if _, err := h.subscribe(t, id); !errors.Is(err, control.ErrUnknownCall) {
				t.Fatalf("%s after the retention: err %v, want unknown_call", id, err)
			}
		}
		if n := h.m.RetainedCalls(); n != 0 {
			t.Fatalf("%d calls still retained", n)
		}
		if v := metricValue(t, h.m.Metrics().Registry, "amd_call_histories_retained"); v != 0 {
			t.Fatalf("amd_call_histories_retained %v after the retention", v)
		}
	})
}

func waitRetained(t *testing.T, m *Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for m.RetainedCalls() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls retained, want %d", m.RetainedCalls(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHistoryBound: one call's history keeps every status, and drops (and
// counts) AMD events beyond its bound, keeping seq numbering honest.
func TestHistoryBound(t *testing.T) {
	tests := []struct {
		name        string
		amdEvents   int
		wantEntries int
		wantDropped int
	}{
		{"normal call", 3, 3 + 3, 0},
		// two statuses before the events, room kept for the final two
		{"at the bound", maxHistoryEntries - 6, maxHistoryEntries - 6 + 3, 0},
		{"runaway events", 100, maxHistoryEntries - 6 + 3, 100 - (maxHistoryEntries - 6)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h *callHistory
			now := time.Unix(100, 0)
			h = h.with(&control.CallStatus{Status: call.StatusTrying}, nil, now)
			h = h.with(&control.CallStatus{Status: call.StatusAnswered}, nil, now)
			early := h // an older snapshot must not change
			for i := range tc.amdEvents {
				h = h.with(nil, &control.AMDEvent{Seq: i + 1}, now)
			}
			h = h.with(&control.CallStatus{Status: call.StatusCompleted}, nil, now)
			st := h.state()
			if len(st.History) != tc.wantEntries || st.Dropped != tc.wantDropped || !st.Ended || st.Status != call.StatusCompleted {
				t.Fatalf("entries %d dropped %d ended %v status %s; want %d, %d", len(st.History), st.Dropped, st.Ended, st.Status, tc.wantEntries, tc.wantDropped)
			}
			last := st.History[len(st.History)-1]
			if last.Status == nil || last.Seq != 2+tc.amdEvents+1 {
				t.Fatalf("final entry %+v, want the completed status with seq %d", last, 2+tc.amdEvents+1)
			}
			for i := 1; i < len(st.History); i++ {
				if st.History[i].Seq <= st.History[i-1].Seq {
					t.Fatalf("seq %d after %d", st.History[i].Seq, st.History[i-1].Seq)
				}
			}
			if es := early.state(); len(es.History) != 2 || es.Ended || fmt.Sprint(es.History[1].Status.Status) != "answered" {
				t.Fatalf("older snapshot changed: %+v", es)
			}
		})
	}
}

// BenchmarkHistoryRecord is the cost the history adds per published
// message (statuses and AMD events, a handful per call; never per frame):
// one snapshot, plus the entries' array growing by doubling.
func BenchmarkHistoryRecord(b *testing.B) {
	st := &control.CallStatus{Status: call.StatusAnswered}
	ev := &control.AMDEvent{Seq: 1}
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for b.Loop() {
		h := (*callHistory)(nil).with(st, nil, now)
		for range 6 { // a typical call: decision, tone, stopped, ...
			h = h.with(nil, ev, now)
		}
		_ = h.with(&control.CallStatus{Status: call.StatusCompleted}, nil, now)
	}
	b.ReportMetric(8, "msgs/op")
}
