package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// fakeEngine is a control-channel engine for the gateway's unit tests: the
// real control.Server (so the gateway speaks the real protocol over a real
// WebSocket) in front of a scripted Handler instead of SIP and DSP.
type fakeEngine struct {
	t    *testing.T
	addr string

	mu      sync.Mutex
	srv     *control.Server
	hs      *http.Server
	dials   []control.Dial
	hangups []string
	// script returns the events of a dialled call by target.
	script func(d control.Dial) []any
	// refuse, when set, refuses dials.
	refuse error
	// ackDelay delays the dial's ack (the engine is slow, not dead).
	ackDelay time.Duration
	wg       sync.WaitGroup
	stopCh   chan struct{}
	// hist is what each dialled call published, for subscribe's state
	// (control.CallStater), as amdd keeps it; it outlives a restart of the
	// fake's server (the engine process stays, its connections drop) and
	// goes with forget (the engine process restarted).
	hist map[string][]control.HistoryEntry
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeEngine{t: t, addr: l.Addr().String(), script: scriptByTarget, hist: map[string][]control.HistoryEntry{}}
	f.serve(l)
	t.Cleanup(f.stop)
	return f
}

func (f *fakeEngine) url() string { return "ws://" + f.addr + "/v1/control" }

func (f *fakeEngine) serve(l net.Listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.srv = control.NewServer(f)
	mux := http.NewServeMux()
	mux.Handle("/v1/control", f.srv)
	f.hs = &http.Server{Handler: mux}
	f.stopCh = make(chan struct{})
	hs := f.hs
	f.wg.Go(func() { _ = hs.Serve(l) })
}

// stop drops every connection and stops listening (an engine crash, as far
// as the gateway can tell).
func (f *fakeEngine) stop() {
	f.mu.Lock()
	srv, hs, ch := f.srv, f.hs, f.stopCh
	f.srv, f.hs = nil, nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	close(ch)
	_ = srv.Close()
	_ = hs.Close()
	f.wg.Wait()
}

// restart listens again on the same address.
func (f *fakeEngine) restart() {
	var l net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("relisten %s: %v", f.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.serve(l)
}

// publish sends an event for callID now, recording it first (as amdd's
// call owner does) so that a subscriber misses nothing.
func (f *fakeEngine) publish(callID string, msg any) {
	f.mu.Lock()
	e := control.HistoryEntry{Seq: len(f.hist[callID]) + 1}
	switch m := msg.(type) {
	case *control.CallStatus:
		e.Status = m
	case *control.AMDEvent:
		e.AMD = m
	}
	f.hist[callID] = append(f.hist[callID], e)
	srv := f.srv
	f.mu.Unlock()
	if srv != nil {
		srv.Publish(callID, msg)
	}
}

func (f *fakeEngine) Dial(ctx context.Context, d control.Dial) (string, error) {
	f.mu.Lock()
	f.dials = append(f.dials, d)
	refuse, stopCh, delay := f.refuse, f.stopCh, f.ackDelay
	if refuse == nil {
		f.hist[d.CallID] = []control.HistoryEntry{} // known from now on
	}
	f.mu.Unlock()
	if refuse != nil {
		return "", refuse
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-stopCh:
		}
	}
	events := f.script(d)
	// One goroutine per call publishes its events in order, as a call's
	// owner goroutine does in amdd.
	f.wg.Go(func() {
		for _, ev := range events {
			if p, ok := ev.(pause); ok {
				select {
				case <-time.After(time.Duration(p)):
				case <-stopCh:
					return
				}
				continue
			}
			f.publish(d.CallID, ev)
		}
	})
	return d.CallID, nil
}

// CallState answers subscribe like amdd: the call's history, or
// unknown_call for a call this engine was never asked to dial (or forgot).
func (f *fakeEngine) CallState(callID string) (control.CallState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hist[callID]
	if !ok {
		return control.CallState{}, fmt.Errorf("call %q: %w", callID, control.ErrUnknownCall)
	}
	st := control.CallState{History: slices.Clone(h)}
	for _, e := range h {
		if e.Status != nil {
			st.Status, st.Ended = e.Status.Status, e.Status.Status.Final()
		}
	}
	return st, nil
}

// forgetCall drops a call's history: the engine lost it (it restarted).
func (f *fakeEngine) forgetCall(id string) {
	f.mu.Lock()
	delete(f.hist, id)
	f.mu.Unlock()
}

// published returns what callID published so far.
func (f *fakeEngine) published(callID string) []control.HistoryEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hist[callID])
}

func (f *fakeEngine) Hangup(callID string) error {
	f.mu.Lock()
	f.hangups = append(f.hangups, callID)
	f.mu.Unlock()
	return nil
}

func (f *fakeEngine) StopAMD(string) error { return nil }

func (f *fakeEngine) dialed() []control.Dial {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]control.Dial(nil), f.dials...)
}

// pause in a script waits before the next event.
type pause time.Duration

func status(id string, st call.Status, mut ...func(*control.CallStatus)) *control.CallStatus {
	s := &control.CallStatus{Envelope: control.Envelope{V: control.Version, Type: control.TypeCallStatus}, CallID: id, Leg: call.LegSIP,
		Status: st, TimeUnixMs: time.Now().UnixMilli()}
	for _, m := range mut {
		m(s)
	}
	return s
}

func amd(id string, seq int, typ engine.EventType, reason engine.Reason, atMs int64) *control.AMDEvent {
	return &control.AMDEvent{Envelope: control.Envelope{V: control.Version, Type: control.TypeAMDEvent}, CallID: id, Leg: call.LegSIP, Seq: seq,
		Event: engine.Event{Type: typ, AtMs: atMs, Reason: reason, Confidence: 0.9, WordCount: 2, GreetingDurationMs: 800}, TimeUnixMs: time.Now().UnixMilli()}
}

// scriptByTarget picks a call's story from its target's user part.
func scriptByTarget(d control.Dial) []any {
	id := d.CallID
	user := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(strings.TrimPrefix(d.Target, "sip:"), "tel:"), "@", 2)[0], "+")
	tick := pause(5 * time.Millisecond)
	switch user {
	case "busy":
		return []any{status(id, call.StatusTrying), tick, status(id, call.StatusFailed, func(s *control.CallStatus) {
			s.Reason, s.ReasonCode, s.EndReason = "486 Busy Here", "Busy Here", call.EndFailed
			s.Timings.RingDurationInMs = 1200
		})}
	case "machine":
		return []any{status(id, call.StatusTrying), status(id, call.StatusRinging), tick,
			status(id, call.StatusAnswered, func(s *control.CallStatus) { s.Timings.RingDurationInMs = 3000 }), tick,
			amd(id, 1, engine.EventMachineDetected, engine.ReasonLongGreeting, 4200), tick,
			status(id, call.StatusCompleted, func(s *control.CallStatus) {
				s.EndReason = call.EndMachineDetected
				s.Timings = control.Timings{RingDurationInMs: 3000, ConnectDurationInMs: 4300, CallDurationInMs: 4300}
			})}
	case "silent":
		// Answers, then says nothing more until hung up.
		return []any{status(id, call.StatusTrying), status(id, call.StatusAnswered)}
	case "slow":
		// Answers after a while (the engine link may drop meanwhile).
		return []any{status(id, call.StatusTrying), pause(700 * time.Millisecond), status(id, call.StatusAnswered), tick,
			status(id, call.StatusCompleted, func(s *control.CallStatus) { s.EndReason = call.EndCallerDisconnected })}
	default: // a human who says hello and hangs up
		return []any{status(id, call.StatusTrying), status(id, call.StatusRinging), tick,
			status(id, call.StatusAnswered, func(s *control.CallStatus) { s.Timings.RingDurationInMs = 2000 }), tick,
			amd(id, 1, engine.EventHumanDetected, engine.ReasonShortGreeting, 1800), tick,
			amd(id, 2, engine.EventStopped, engine.ReasonCompleted, 1900), tick,
			status(id, call.StatusCompleted, func(s *control.CallStatus) {
				s.EndReason = call.EndCallerDisconnected
				s.Timings = control.Timings{RingDurationInMs: 2000, ConnectDurationInMs: 5000, CallDurationInMs: 5000}
			})}
	}
}

var errRefused = errors.New("refused by test")
