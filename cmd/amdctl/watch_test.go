package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"go.uber.org/goleak"
)

// idleEngine refuses commands: the watch test publishes by itself.
type idleEngine struct{}

func (idleEngine) Dial(context.Context, control.Dial) (string, error) {
	return "", &control.CommandError{Code: control.CodeUnsupported, Message: "no dials here"}
}
func (idleEngine) Hangup(string) error  { return control.ErrUnknownCall }
func (idleEngine) StopAMD(string) error { return control.ErrUnknownCall }

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchCommand: the JSON output is the contract other tools read —
// one object per line, every one with its callId, statuses and events of
// every call (or only the one asked for), until interrupted.
func TestWatchCommand(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	msgs := func(id string) []any {
		return []any{
			&control.CallStatus{Envelope: control.Envelope{V: 1, Type: control.TypeCallStatus}, CallID: id, Leg: call.LegWebRTC, Status: call.StatusAnswered},
			&control.AMDEvent{Envelope: control.Envelope{V: 1, Type: control.TypeAMDEvent}, CallID: id, Leg: call.LegWebRTC, Seq: 1,
				Event: engine.Event{Type: engine.EventHumanDetected, Reason: engine.ReasonShortGreeting}},
			&control.CallStatus{Envelope: control.Envelope{V: 1, Type: control.TypeCallStatus}, CallID: id, Leg: call.LegWebRTC,
				Status: call.StatusCompleted, EndReason: call.EndCallerDisconnected},
		}
	}
	tests := []struct {
		name      string
		args      []string
		wantCalls map[string]int // lines per call
		wantText  []string       // substrings of the text output
		exits     bool           // --exit-on-final: returns by itself
	}{
		{"all calls json", []string{"--json"}, map[string]int{"a": 3, "b": 3}, nil, false},
		{"one call json", []string{"--json", "--call", "b"}, map[string]int{"b": 3}, nil, false},
		{"one call exits on final", []string{"--json", "--call", "a", "--exit-on-final"}, map[string]int{"a": 3}, nil, true},
		{"text", []string{"--call", "a"}, nil, []string{"call a answered", "amd_human_detected reason=short_greeting", "endReason=Caller-disconnected"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := control.NewServer(idleEngine{})
			hs := httptest.NewServer(srv)
			defer hs.Close()
			defer srv.Close()
			url := "ws" + strings.TrimPrefix(hs.URL, "http")
			f, err := parseWatchFlags(append([]string{"--engine", url}, tc.args...), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr syncBuffer
			code := make(chan int, 1)
			go func() { code <- watch(ctx, f, &stdout, &stderr) }()
			waitFor(t, "subscription", 5*time.Second, func() bool { return strings.Contains(stderr.String(), "subscribed") })
			for _, id := range []string{"a", "b"} {
				for _, m := range msgs(id) {
					srv.Publish(id, m)
				}
			}
			total := 0
			for _, n := range tc.wantCalls {
				total += n
			}
			if tc.wantText != nil {
				waitFor(t, "text output", 5*time.Second, func() bool { return strings.Contains(stdout.String(), "endReason=") })
			} else {
				waitFor(t, "json lines", 5*time.Second, func() bool { return strings.Count(stdout.String(), "\n") >= total })
			}
			if tc.exits {
				select {
				case c := <-code:
					if c != exitWatchOK {
						t.Errorf("exit %d", c)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("--exit-on-final did not exit")
				}
			} else {
				cancel() // the interrupt
				if c := <-code; c != exitWatchOK {
					t.Errorf("exit %d after interrupt, want 0; stderr %s", c, stderr.String())
				}
			}
			out := stdout.String()
			for _, s := range tc.wantText {
				if !strings.Contains(out, s) {
					t.Errorf("text output lacks %q:\n%s", s, out)
				}
			}
			if tc.wantCalls == nil {
				return
			}
			got := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m struct {
					Type   string `json:"type"`
					CallID string `json:"callId"`
				}
				if err := json.Unmarshal([]byte(line), &m); err != nil || m.CallID == "" || m.Type == "" {
					t.Fatalf("line %q: not a JSON object with type and callId (%v)", line, err)
				}
				got[m.CallID]++
			}
			if len(got) != len(tc.wantCalls) {
				t.Errorf("lines per call %v, want %v", got, tc.wantCalls)
			}
			for id, n := range tc.wantCalls {
				if got[id] != n {
					t.Errorf("lines per call %v, want %v", got, tc.wantCalls)
				}
			}
		})
	}
}

// TestWatchConnectionLost: the server going away is exit status 1, and
// bad flags are 2.
func TestWatchConnectionLost(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := control.NewServer(idleEngine{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { code <- watch(ctx, &watchFlags{engineURL: url}, &stdout, &stderr) }()
	waitFor(t, "subscription", 5*time.Second, func() bool { return strings.Contains(stderr.String(), "subscribed") })
	_ = srv.Close()
	select {
	case c := <-code:
		if c != exitWatchLost || !strings.Contains(stderr.String(), "connection lost") {
			t.Errorf("exit %d, stderr %q; want %d and a reason", c, stderr.String(), exitWatchLost)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not notice the server leaving")
	}
	for _, args := range [][]string{{"--exit-on-final"}, {"extra"}} {
		if c := runWatch(args, &stdout, &bytes.Buffer{}); c != exitWatchUsage {
			t.Errorf("runWatch %v: exit %d, want %d", args, c, exitWatchUsage)
		}
	}
}

// historyEngine knows one call that already ended, and no other.
type historyEngine struct {
	idleEngine
	state control.CallState
}

func (h historyEngine) CallState(id string) (control.CallState, error) {
	if id != "done" {
		return control.CallState{}, control.ErrUnknownCall
	}
	return h.state, nil
}

// TestWatchReplaysHistory: watching one call that already happened (or a
// watcher restarted mid-call) shows its whole story from the engine's
// history, each message once; a call the engine does not know is an error.
func TestWatchReplaysHistory(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	answered := &control.CallStatus{Envelope: control.Envelope{V: 1, Type: control.TypeCallStatus}, CallID: "done", Leg: call.LegSIP, Status: call.StatusAnswered}
	human := &control.AMDEvent{Envelope: control.Envelope{V: 1, Type: control.TypeAMDEvent}, CallID: "done", Leg: call.LegSIP, Seq: 1,
		Event: engine.Event{Type: engine.EventHumanDetected, Reason: engine.ReasonShortGreeting}}
	completed := &control.CallStatus{Envelope: control.Envelope{V: 1, Type: control.TypeCallStatus}, CallID: "done", Leg: call.LegSIP,
		Status: call.StatusCompleted, EndReason: call.EndCallerDisconnected}
	eng := historyEngine{state: control.CallState{Status: call.StatusCompleted, Ended: true, History: []control.HistoryEntry{
		{Seq: 1, Status: answered}, {Seq: 2, AMD: human}, {Seq: 3, Status: completed},
	}}}
	srv := control.NewServer(eng)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var stdout, stderr syncBuffer
	code := watch(ctx, &watchFlags{engineURL: url, callID: "done", jsonOut: true, exitOnFinal: true}, &stdout, &stderr)
	if code != exitWatchOK {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var kinds []string
	for _, l := range lines {
		var m struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Event  string `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		kinds = append(kinds, m.Status+m.Event)
	}
	if got, want := strings.Join(kinds, " "), "answered amd_human_detected completed"; got != want {
		t.Errorf("replayed %q, want %q", got, want)
	}

	stderr = syncBuffer{}
	if code := watch(ctx, &watchFlags{engineURL: url, callID: "nope"}, &bytes.Buffer{}, &stderr); code != exitWatchLost ||
		!strings.Contains(stderr.String(), "unknown") {
		t.Errorf("unknown call: exit %d, stderr %q", code, stderr.String())
	}
}
