package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/daemon"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
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
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
					if strings.Contains(out, "connect=0ms") {
						t.Errorf("unknown timings printed as zero:\n%s", out)
					}
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

// TestDialAgainstAmdd runs `amdctl dial --json` against a real amdd
// (in-process) whose callee is SIPp answering 486: the JSON lines are the
// control messages, the last one the failed status, and the exit status 0.
func TestDialAgainstAmdd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sippBin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (make deps installs sip-tester)")
	}
	svc, err := daemon.NewService(daemon.ServiceConfig{
		SIP:           sip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: 47200, RTPPortMax: 47300},
		ControlListen: "127.0.0.1:0",
		ControlToken:  "tok",
		Log:           zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown(context.Background())

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	scenario, err := filepath.Abs("../../daemon/testdata/sipp/uas_busy.xml")
	if err != nil {
		t.Fatal(err)
	}
	sipp := exec.CommandContext(ctx, sippBin, "-sf", scenario, "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error")
	sipp.Dir = t.TempDir()
	if err := sipp.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- sipp.Wait() }()
	defer func() { cancel(); <-sippDone }()
	time.Sleep(300 * time.Millisecond)

	var out, errOut bytes.Buffer
	code := runDial([]string{"--engine", svc.ControlURL(), "--token", "tok", "--json",
		"--target", fmt.Sprintf("sip:busy@127.0.0.1:%d", port), "--caller", "amdctl"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if last["status"] != "failed" || last["reason"] != "486 Busy Here" || last["endReason"] != "Failed" {
		t.Fatalf("last line %v", last)
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	if first["status"] != "trying" || first["callId"] == "" {
		t.Fatalf("first line %v", first)
	}
	select {
	case err := <-sippDone:
		sippDone <- err
		if err != nil {
			t.Fatalf("sipp: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sipp did not finish (no ACK?)")
	}
}

// hangupEngine answers and then waits: only a hangup ends the call.
type hangupEngine struct {
	srv    *control.Server
	mu     sync.Mutex
	hungUp []string
}

func (e *hangupEngine) Dial(_ context.Context, d control.Dial) (string, error) {
	a := st(call.StatusAnswered, "")
	a.CallID = d.CallID
	e.srv.Publish(d.CallID, &a)
	return d.CallID, nil
}

func (e *hangupEngine) Hangup(id string) error {
	e.mu.Lock()
	e.hungUp = append(e.hungUp, id)
	e.mu.Unlock()
	f := st(call.StatusCompleted, call.EndBotDisconnected)
	f.CallID = id
	e.srv.Publish(id, &f)
	return nil
}
func (e *hangupEngine) StopAMD(string) error { return nil }

// TestDialInterruptHangsUp: an interrupt (ctx) makes amdctl dial hang the
// call up and still print the final status before exiting 0.
func TestDialInterruptHangsUp(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	eng := &hangupEngine{}
	srv := control.NewServer(eng)
	eng.srv = srv
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	f, err := parseDialFlags([]string{"--engine", "ws" + strings.TrimPrefix(hs.URL, "http"), "--target", "+1", "--caller", "x", "--json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- dialAndWatch(ctx, f, &out, io.Discard) }()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), `"answered"`); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no answered line: %q", out.String())
		}
	}
	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("amdctl dial did not return after the interrupt")
	}
	if !strings.Contains(out.String(), `"Bot-disconnected"`) {
		t.Fatalf("final status not printed: %q", out.String())
	}
	eng.mu.Lock()
	defer eng.mu.Unlock()
	if len(eng.hungUp) != 1 {
		t.Fatalf("hangups %v", eng.hungUp)
	}
}

func TestDialHelpDoesNotLeakToken(t *testing.T) {
	t.Setenv("AMD_CONTROL_TOKEN", "very-secret")
	var out, errOut bytes.Buffer
	if code := runDial([]string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(errOut.String()+out.String(), "very-secret") {
		t.Fatal("help output shows the token")
	}
	f, err := parseDialFlags([]string{"--target", "+1", "--caller", "x"}, io.Discard)
	if err != nil || f.token != "very-secret" {
		t.Fatalf("token from env = %q, %v", f.token, err)
	}
}
