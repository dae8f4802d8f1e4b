package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// scriptedEngine answers every dial by publishing a fixed script of events
// from a goroutine, the way amdd's call goroutine does.
type scriptedEngine struct {
	srv     *control.Server
	script  []any
	wg      sync.WaitGroup
	mu      sync.Mutex
	lastReq control.Dial
	refuse  error
}

func (e *scriptedEngine) Dial(_ context.Context, d control.Dial) (string, error) {
	if e.refuse != nil {
		return "", e.refuse
	}
	e.mu.Lock()
	e.lastReq = d
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, m := range e.script {
			switch v := m.(type) {
			case control.CallStatus:
				v.CallID = d.CallID
				e.srv.Publish(d.CallID, &v)
			case control.AMDEvent:
				v.CallID = d.CallID
				e.srv.Publish(d.CallID, &v)
			}
		}
	}()
	return d.CallID, nil
}
func (e *scriptedEngine) Hangup(string) error  { return nil }
func (e *scriptedEngine) StopAMD(string) error { return nil }

func st(s call.Status, end call.EndReason) control.CallStatus {
	return control.CallStatus{Envelope: control.Envelope{V: 1, Type: control.TypeCallStatus}, Leg: call.LegSIP, Status: s, EndReason: end, TimeUnixMs: time.Now().UnixMilli()}
}

func ev(seq int, t engine.EventType) control.AMDEvent {
	return control.AMDEvent{Envelope: control.Envelope{V: 1, Type: control.TypeAMDEvent}, Leg: call.LegSIP, Seq: seq, Event: engine.Event{Type: t, Reason: engine.ReasonBeep}}
}

func TestDialCommand(t *testing.T) {
	script := []any{
		st(call.StatusTrying, ""), st(call.StatusRinging, ""), st(call.StatusAnswered, ""),
		ev(1, engine.EventMachineDetected), ev(2, engine.EventToneDetected), ev(3, engine.EventStopped),
		st(call.StatusCompleted, call.EndMachineDetected),
	}
	tests := []struct {
		name     string
		args     []string
		refuse   error
		wantExit int
		check    func(t *testing.T, out, errOut string, req control.Dial)
	}{
		{"json lines", []string{"--target", "sip:vm@127.0.0.1:5070", "--caller", "amd", "--json", "--machine-detection", "disconnect",
			"--decision-timeout-ms", "9000", "--threshold-word-count", "4", "--timeout-ms", "20000", "--trunk", "t1", "--codecs", "opus,pcmu"}, nil, 0,
			func(t *testing.T, out, _ string, req control.Dial) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != len(script) {
					t.Fatalf("%d lines, want %d:\n%s", len(lines), len(script), out)
				}
				var keys []string
				for _, l := range lines {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
					if s, ok := m["status"].(string); ok {
						keys = append(keys, s)
					} else if e, ok := m["event"].(string); ok {
						keys = append(keys, e)
					}
				}
				want := "trying ringing answered amd_machine_detected amd_tone_detected amd_stopped completed"
				if got := strings.Join(keys, " "); got != want {
					t.Fatalf("sequence %q, want %q", got, want)
				}
				if req.MachineDetection != engine.ModeDisconnect || req.Timers.DecisionTimeoutMs != 9000 || req.ThresholdWordCount != 4 ||
					req.TimeoutInMs != 20000 || req.Trunk != "t1" || strings.Join(req.Codecs, ",") != "opus,pcmu" {
					t.Fatalf("engine got %+v", req)
				}
			}},
		{"text", []string{"--target", "+15550001", "--caller", "amd"}, nil, 0,
			func(t *testing.T, out, _ string, _ control.Dial) {
				for _, w := range []string{"placed to +15550001", "ringing", "amd_machine_detected reason=beep", "completed endReason=machineDetected"} {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
			}},
		{"refused", []string{"--target", "+1", "--caller", "amd"}, &control.FieldError{Field: "trunk", Message: "no such trunk"}, exitDialNotPlaced,
			func(t *testing.T, _, errOut string, _ control.Dial) {
				if !strings.Contains(errOut, "field trunk") {
					t.Errorf("stderr %q does not name the field", errOut)
				}
			}},
		{"invalid locally validated by server", []string{"--target", "not a number", "--caller", "amd"}, nil, exitDialNotPlaced,
			func(t *testing.T, _, errOut string, _ control.Dial) {
				if !strings.Contains(errOut, "field target") {
					t.Errorf("stderr %q does not name the field", errOut)
				}
			}},
		{"missing target", []string{"--caller", "amd"}, nil, exitDialUsage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := &scriptedEngine{script: script, refuse: tc.refuse}
			srv := control.NewServer(eng)
			eng.srv = srv
			hs := httptest.NewServer(srv)
			defer hs.Close()
			defer srv.Close()
			defer eng.wg.Wait()
			var out, errOut bytes.Buffer
			args := append([]string{"--engine", "ws" + strings.TrimPrefix(hs.URL, "http")}, tc.args...)
			done := make(chan int, 1)
			go func() { done <- runDial(args, &out, &errOut) }()
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("amdctl dial did not return")
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantExit, errOut.String())
			}
			if tc.check != nil {
				eng.mu.Lock()
				req := eng.lastReq
				eng.mu.Unlock()
				tc.check(t, out.String(), errOut.String(), req)
			}
		})
	}
}

func TestDialCommandEngineDown(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runDial([]string{"--engine", "ws://127.0.0.1:1/v1/control", "--target", "+1", "--caller", "x"}, &out, &errOut)
	if code != exitDialNotPlaced || errOut.Len() == 0 {
		t.Fatalf("exit %d stderr %q, want %d and a message", code, errOut.String(), exitDialNotPlaced)
	}
}
