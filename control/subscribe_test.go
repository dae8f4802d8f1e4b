package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/engine"
)

// stateEngine is a fakeEngine that keeps call histories, like amdd's
// manager: a CallStater.
type stateEngine struct {
	*fakeEngine
	mu     sync.Mutex
	states map[string]CallState
}

func (e *stateEngine) CallState(id string) (CallState, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.states[id]
	if !ok {
		return CallState{}, fmt.Errorf("call %q: %w", id, ErrUnknownCall)
	}
	return st, nil
}

func newStateHarness(t *testing.T, states map[string]CallState) *harness {
	t.Helper()
	h := newHarness(t)
	// Same server options, a handler that also answers CallState.
	eng := &stateEngine{fakeEngine: h.eng, states: states}
	h.srv.handler = eng
	return h
}

func history(id string, msgs ...any) []HistoryEntry {
	out := make([]HistoryEntry, 0, len(msgs))
	for i, m := range msgs {
		e := HistoryEntry{Seq: i + 1}
		switch m := m.(type) {
		case *CallStatus:
			e.Status = m
		case *AMDEvent:
			e.AMD = m
		}
		out = append(out, e)
	}
	return out
}

// describe renders an Incoming as "status" or "amd#seq:event", with a
// "replay:" prefix for history.
func describe(in Incoming) string {
	p := ""
	if in.Replay {
		p = "replay:"
	}
	if in.Status != nil {
		return p + string(in.Status.Status)
	}
	return fmt.Sprintf("%samd#%d:%s", p, in.AMD.Seq, in.AMD.Event.Type)
}

// TestSubscribeState: subscribe to one call answers with its state from a
// CallStater; the client puts the history on Events ahead of live events;
// an ended call is not routed; an unknown one is refused with unknown_call.
func TestSubscribeState(t *testing.T) {
	live := history("live", status("live", call.StatusTrying), status("live", call.StatusAnswered), amd("live", 1, engine.EventHumanDetected))
	ended := history("done", status("done", call.StatusTrying), status("done", call.StatusFailed))
	ended[1].Status.EndReason, ended[1].Status.Reason = call.EndFailed, "486 Busy Here"
	states := map[string]CallState{
		"live": {Status: call.StatusAnswered, History: live},
		"done": {Status: call.StatusFailed, Ended: true, History: ended},
		"new":  {History: []HistoryEntry{}}, // dialled, nothing sent yet
	}
	cases := []struct {
		name, id   string
		wantErr    error
		wantEnded  bool
		wantRouted bool
		// what Events shows: the replayed history, then (if routed) a live
		// event published after the subscribe.
		wantEvents []string
	}{
		{"live call: history then live events", "live", nil, false, true, []string{"replay:trying", "replay:answered", "replay:amd#1:amd_human_detected", "amd#2:amd_stopped"}},
		{"ended call within retention: history, no route", "done", nil, true, false, []string{"replay:trying", "replay:failed"}},
		{"known call with no history yet", "new", nil, false, true, []string{"amd#2:amd_stopped"}},
		{"unknown call", "nope", ErrUnknownCall, false, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newStateHarness(t, states)
			c := connect(t, h, "")
			st, err := c.SubscribeState(tctx(t), tc.id)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("subscribe %s: err %v, want %v", tc.id, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				var ce *CommandError
				if !errors.As(err, &ce) || ce.Code != CodeUnknownCall || ce.CallID != tc.id {
					t.Fatalf("refusal %#v, want unknown_call naming %s", err, tc.id)
				}
			} else if st == nil || st.Ended != tc.wantEnded || st.Status != states[tc.id].Status || len(st.History) != len(states[tc.id].History) {
				t.Fatalf("state %+v, want %+v", st, states[tc.id])
			}
			h.srv.mu.Lock()
			_, routed := h.srv.byCall[tc.id][firstConn(h.srv)]
			h.srv.mu.Unlock()
			if routed != tc.wantRouted {
				t.Fatalf("routed %v, want %v", routed, tc.wantRouted)
			}
			// A live event after the subscribe, then a marker on another
			// call the client subscribed to all of, so we know when to stop.
			h.srv.Publish(tc.id, amd(tc.id, 2, engine.EventStopped))
			if err := c.Subscribe(tctx(t), ""); err != nil {
				t.Fatal(err)
			}
			h.srv.Publish("marker", status("marker", call.StatusTrying))
			var got []string
			for {
				in := nextEvent(t, c)
				if in.CallID == "marker" {
					break
				}
				if in.CallID != tc.id {
					t.Fatalf("event of %s", in.CallID)
				}
				if in.Raw == nil {
					t.Fatalf("%s without Raw", describe(in))
				}
				got = append(got, describe(in))
			}
			if strings.Join(got, " ") != strings.Join(tc.wantEvents, " ") {
				t.Fatalf("events %v, want %v", got, tc.wantEvents)
			}
		})
	}
}

func firstConn(s *Server) *conn {
	for c := range s.conns {
		return c
	}
	return nil
}

// TestSubscribeAckWire checks the ack as it travels: an old client that
// knows nothing of "state" still reads callId, and a new one sees every
// entry with its seq; metadata too large for one message is left out.
func TestSubscribeAckWire(t *testing.T) {
	big := map[string]string{}
	for i := range 32 {
		big[fmt.Sprintf("k%02d", i)] = strings.Repeat("x", 1000)
	}
	withMeta := func(st *CallStatus, md map[string]string) *CallStatus { st.Metadata = md; return st }
	cases := []struct {
		name        string
		meta        map[string]string
		wantOmitted bool
	}{
		{"small metadata kept", map[string]string{"campaign": "spring"}, false},
		{"metadata over the message limit omitted", big, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hist := history("c", withMeta(status("c", call.StatusTrying), tc.meta), withMeta(status("c", call.StatusRinging), tc.meta),
				withMeta(status("c", call.StatusAnswered), tc.meta), amd("c", 1, engine.EventMachineDetected))
			h := newStateHarness(t, map[string]CallState{"c": {Status: call.StatusAnswered, History: hist}})
			ws := rawConn(t, h.url, nil)
			if err := ws.WriteMessage(1, []byte(`{"v":1,"type":"subscribe","id":"s1","callId":"c","replay":true}`)); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > MaxMessageBytes {
				t.Fatalf("ack of %d bytes", len(data))
			}
			var old struct { // an ack as a revision-1.0 client declares it
				V      int    `json:"v"`
				Type   string `json:"type"`
				ID     string `json:"id"`
				CallID string `json:"callId"`
			}
			if err := json.Unmarshal(data, &old); err != nil || old.Type != TypeAck || old.ID != "s1" || old.CallID != "c" {
				t.Fatalf("old client reads %+v (%v) from %.200s", old, err, data)
			}
			msg, _, err := DecodeServerMessage(data)
			if err != nil {
				t.Fatal(err)
			}
			st := msg.(*Ack).State
			if st == nil || len(st.History) != 4 || st.MetadataOmitted != tc.wantOmitted {
				t.Fatalf("state %+v", st)
			}
			for i, e := range st.History {
				if e.Seq != i+1 || (e.Status == nil) == (e.AMD == nil) {
					t.Fatalf("entry %d: %+v", i, e)
				}
				if e.Status != nil && (len(e.Status.Metadata) == 0) != tc.wantOmitted {
					t.Fatalf("entry %d metadata %d keys, omitted %v", i, len(e.Status.Metadata), tc.wantOmitted)
				}
			}
			if st.History[3].AMD.Event.Type != engine.EventMachineDetected {
				t.Fatalf("last entry %+v", st.History[3].AMD)
			}
		})
	}
}

// TestSubscribeWithoutCallState keeps the revision-1.0 behaviour for a
// handler without histories: accepted, no state, routed.
func TestSubscribeWithoutCallState(t *testing.T) {
	h := newHarness(t)
	c := connect(t, h, "")
	st, err := c.SubscribeState(tctx(t), "later")
	if err != nil || st != nil {
		t.Fatalf("state %+v err %v, want none", st, err)
	}
	h.srv.Publish("later", status("later", call.StatusTrying))
	if in := nextEvent(t, c); in.CallID != "later" || in.Replay || in.Status == nil {
		t.Fatalf("got %+v", in)
	}
}

// TestSubscribeWithoutReplay: a revision-1.0 subscribe (no "replay") to an
// engine that keeps histories behaves as before: accepted for a call that
// does not exist yet, routed, and its ack carries no state.
func TestSubscribeWithoutReplay(t *testing.T) {
	h := newStateHarness(t, map[string]CallState{"c": {Status: call.StatusTrying, History: history("c", status("c", call.StatusTrying))}})
	c := connect(t, h, "")
	for _, id := range []string{"c", "not-yet"} {
		if err := c.Subscribe(tctx(t), id); err != nil {
			t.Fatalf("subscribe %s: %v", id, err)
		}
	}
	h.srv.Publish("not-yet", status("not-yet", call.StatusTrying))
	if in := nextEvent(t, c); in.CallID != "not-yet" || in.Replay {
		t.Fatalf("got %+v, want the live event of the call subscribed before it existed", in)
	}
	ws := rawConn(t, h.url, nil)
	if err := ws.WriteMessage(1, []byte(`{"v":1,"type":"subscribe","id":"s2","callId":"c"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil || strings.Contains(string(data), "state") {
		t.Fatalf("1.0 ack %s (%v) carries state", data, err)
	}
	if _, _, err := DecodeCommand([]byte(`{"v":1,"type":"subscribe","id":"s3","replay":true}`)); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("replay without callId: %v, want invalid_field", err)
	}
}
