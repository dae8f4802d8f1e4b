package daemon

// End-to-end tests against real peers: amdd's Service started in-process on
// free loopback ports, SIPp as the callee (or caller), the control channel
// driven by the real control.Client. Each test is bounded in time and the
// package's TestMain checks for leaked goroutines.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/internal/sipptest"
	"github.com/amd-engine/amd/sip"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// rtpBases hands each service its own RTP port range so parallel tests
// (and teammates' tests on the same machine) do not collide.
var (
	rtpMu   sync.Mutex
	rtpNext = 42000 + 2*rand.IntN(3000)
)

func rtpRange() (int, int) {
	rtpMu.Lock()
	defer rtpMu.Unlock()
	lo := rtpNext
	rtpNext += 200
	if rtpNext > 64000 {
		rtpNext = 42000
	}
	return lo, lo + 198
}

type e2eService struct {
	svc *Service
	url string
}

func startService(t *testing.T, mutate func(*ServiceConfig)) *e2eService {
	t.Helper()
	lo, hi := rtpRange()
	log := zerolog.Nop()
	if os.Getenv("AMD_E2E_LOG") != "" {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Str("test", t.Name()).Logger()
	}
	cfg := ServiceConfig{
		SIP: sip.Config{
			ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: lo, RTPPortMax: hi,
			MediaTimeout: 3 * time.Second, PortDrain: 100 * time.Millisecond,
		},
		ControlListen: "127.0.0.1:0",
		Manager:       Config{MediaTimeout: 3 * time.Second, HangupTimeout: 3 * time.Second},
		Log:           log,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := NewService(cfg)
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &e2eService{svc: svc, url: svc.ControlURL()}
}

// sippRun is one SIPp process with one call.
type sippRun struct {
	port int
	proc *sipptest.Proc
}

// startSIPp runs a scenario of testdata/sipp with @KEY@ placeholders
// replaced; remote non-empty makes SIPp the caller.
func startSIPp(t *testing.T, scenario string, vars map[string]string, remote string) *sippRun {
	t.Helper()
	p := sipptest.Start(t, sipptest.Options{Scenario: filepath.Join("testdata", "sipp", scenario), Vars: vars, Remote: remote})
	return &sippRun{port: p.Port, proc: p}
}

// wait returns SIPp's exit error (nil when its scenario completed).
func (r *sippRun) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	err := r.proc.Wait(d)
	if err != nil {
		t.Logf("sipp output:\n%s", tail(r.proc.Output(), 5000))
	}
	return err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// watch collects a call's messages from a client until its final status.
func watch(t *testing.T, c *control.Client, id string, within time.Duration, onEvent func(control.Incoming)) []control.Incoming {
	t.Helper()
	var got []control.Incoming
	deadline := time.After(within)
	for {
		select {
		case in, ok := <-c.Events():
			if !ok {
				t.Fatalf("control connection lost: %v", c.Err())
			}
			if in.CallID != id {
				continue
			}
			got = append(got, in)
			if onEvent != nil {
				onEvent(in)
			}
			if in.Status != nil && in.Status.Status.Final() {
				return got
			}
		case <-deadline:
			t.Fatalf("no final status within %v; got %s", within, render(got))
		}
	}
}

func render(msgs []control.Incoming) string {
	var parts []string
	for _, in := range msgs {
		switch {
		case in.Status != nil:
			s := string(in.Status.Status)
			if in.Status.EndReason != "" {
				s += "/" + string(in.Status.EndReason)
			}
			parts = append(parts, s)
		case in.AMD != nil:
			parts = append(parts, string(in.AMD.Event.Type))
		}
	}
	return strings.Join(parts, " ")
}

func connectClient(t *testing.T, url, token string) *control.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := control.Connect(ctx, url, token)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialCall(t *testing.T, c *control.Client, d control.Dial) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.Caller == "" {
		d.Caller = "amd-e2e"
	}
	id, err := c.Dial(ctx, d)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return id
}

func amdEvents(msgs []control.Incoming) []engine.EventType {
	var out []engine.EventType
	for _, in := range msgs {
		if in.AMD != nil {
			out = append(out, in.AMD.Event.Type)
		}
	}
	return out
}

func final(t *testing.T, msgs []control.Incoming) *control.CallStatus {
	t.Helper()
	last := msgs[len(msgs)-1]
	if last.Status == nil {
		t.Fatalf("last message is not a status: %s", render(msgs))
	}
	return last.Status
}

func checkSeq(t *testing.T, msgs []control.Incoming) {
	t.Helper()
	seq := 0
	for _, in := range msgs {
		if in.AMD != nil {
			seq++
			if in.AMD.Seq != seq {
				t.Errorf("%s has seq %d, want %d", in.AMD.Event.Type, in.AMD.Seq, seq)
			}
		}
	}
}

func TestE2EHumanDetected(t *testing.T) {
	t.Parallel()
	wav, clip := sipptest.CorpusClip(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	svc := startService(t, nil)
	sipp := startSIPp(t, "uas_stream.xml", map[string]string{"WAV": wav}, "")
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:human@127.0.0.1:%d", sipp.port)})
	msgs := watch(t, c, id, 45*time.Second, func(in control.Incoming) {
		if in.AMD != nil && in.AMD.Event.Type == engine.EventHumanDetected {
			// The application got its answer; it hangs up.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Hangup(ctx, id); err != nil {
				t.Errorf("hangup: %v", err)
			}
		}
	})
	t.Logf("clip %s (%q): %s", clip.File, clip.Text, render(msgs))
	evs := amdEvents(msgs)
	if len(evs) == 0 || evs[0] != engine.EventHumanDetected {
		t.Fatalf("events %v, want amd_human_detected first", evs)
	}
	f := final(t, msgs)
	if f.Status != call.StatusCompleted || f.EndReason != call.EndBotDisconnected {
		t.Fatalf("final %+v, want completed Bot-disconnected", f)
	}
	if f.Timings.RingDurationInMs <= 0 || f.Timings.ConnectDurationInMs < f.Timings.RingDurationInMs || f.Timings.CallDurationInMs <= 0 {
		t.Errorf("timings %+v", f.Timings)
	}
	checkSeq(t, msgs)
	if !strings.HasPrefix(render(msgs), "trying ringing answered amd_human_detected") {
		t.Errorf("sequence %s", render(msgs))
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp (did it get our BYE?): %v", err)
	}
}

func machineClip(t *testing.T) (string, fixtures.Clip) {
	return sipptest.CorpusClip(t, "machine", engine.EventMachineDetected, func(c fixtures.Clip) bool {
		return c.Tone == "beep" && c.Beep != nil && c.Beep.Kind == "single" && c.DurationMs < 12000
	})
}

func TestE2EMachineThenBeep(t *testing.T) {
	t.Parallel()
	wav, clip := machineClip(t)
	svc := startService(t, nil)
	sipp := startSIPp(t, "uas_stream.xml", map[string]string{"WAV": wav}, "")
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:vm@127.0.0.1:%d", sipp.port), MachineDetection: engine.ModeDetect})
	msgs := watch(t, c, id, 60*time.Second, func(in control.Incoming) {
		if in.AMD != nil && in.AMD.Event.Type == engine.EventStopped {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Hangup(ctx, id); err != nil {
				t.Errorf("hangup: %v", err)
			}
		}
	})
	t.Logf("clip %s (beep at %d ms): %s", clip.File, clip.Beep.OnsetMs, render(msgs))
	evs := amdEvents(msgs)
	idx := map[engine.EventType]int{}
	for i, e := range evs {
		if _, seen := idx[e]; !seen {
			idx[e] = i
		}
	}
	mi, okM := idx[engine.EventMachineDetected]
	ti, okT := idx[engine.EventToneDetected]
	if !okM || !okT || mi > ti {
		t.Fatalf("events %v, want amd_machine_detected then amd_tone_detected", evs)
	}
	for _, in := range msgs {
		if in.AMD != nil && in.AMD.Event.Type == engine.EventToneDetected {
			tone := in.AMD.Event
			if tone.ToneKind != engine.ToneBeep || tone.ToneFrequencyHz < clip.Beep.FreqHz-60 || tone.ToneFrequencyHz > clip.Beep.FreqHz+60 {
				t.Errorf("tone %s at %.0f Hz, clip beep %.0f Hz", tone.ToneKind, tone.ToneFrequencyHz, clip.Beep.FreqHz)
			}
		}
	}
	checkSeq(t, msgs)
	if f := final(t, msgs); f.Status != call.StatusCompleted || f.EndReason != call.EndBotDisconnected {
		t.Fatalf("final %+v", f)
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp: %v", err)
	}
}

func TestE2EDisconnectModeHangsUp(t *testing.T) {
	t.Parallel()
	wav, _ := machineClip(t)
	svc := startService(t, nil)
	sipp := startSIPp(t, "uas_stream.xml", map[string]string{"WAV": wav}, "")
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:vm@127.0.0.1:%d", sipp.port), MachineDetection: engine.ModeDisconnect})
	msgs := watch(t, c, id, 60*time.Second, nil)
	t.Logf("%s", render(msgs))
	f := final(t, msgs)
	if f.Status != call.StatusCompleted || f.EndReason != call.EndMachineDetected {
		t.Fatalf("final %+v, want completed machineDetected", f)
	}
	evs := amdEvents(msgs)
	if len(evs) < 2 || evs[0] != engine.EventMachineDetected || evs[len(evs)-1] != engine.EventStopped {
		t.Fatalf("events %v", evs)
	}
	// SIPp's scenario ends only when it receives our BYE.
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not get amdd's BYE: %v", err)
	}
}

func TestE2ECalleeByeDuringAMD(t *testing.T) {
	t.Parallel()
	wav, _ := machineClip(t)
	svc := startService(t, nil)
	sipp := startSIPp(t, "uas_stream_bye.xml", map[string]string{"WAV": wav, "BYE_MS": "1000"}, "")
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:bye@127.0.0.1:%d", sipp.port)})
	msgs := watch(t, c, id, 30*time.Second, nil)
	t.Logf("%s", render(msgs))
	f := final(t, msgs)
	if f.Status != call.StatusCompleted || f.EndReason != call.EndCallerDisconnected {
		t.Fatalf("final %+v, want completed Caller-disconnected", f)
	}
	evs := amdEvents(msgs)
	if len(evs) == 0 || evs[len(evs)-1] != engine.EventStopped {
		t.Fatalf("events %v, want the detector closed with amd_stopped", evs)
	}
	if f.Timings.CallDurationInMs < 1000 || f.Timings.CallDurationInMs > 10000 {
		t.Errorf("call duration %d ms for a 1.2 s call", f.Timings.CallDurationInMs)
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp: %v", err)
	}
}

func TestE2EFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scenario   string
		timeoutMs  int
		reason     string
		reasonCode string
	}{
		{"busy", "uas_busy.xml", 0, "486 Busy Here", "Busy Here"},
		{"no answer", "uas_noanswer.xml", 1500, "No Answer", "No Answer"},
	}
	svc := startService(t, nil)
	c := connectClient(t, svc.url, "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sipp := startSIPp(t, tc.scenario, nil, "")
			id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:x@127.0.0.1:%d", sipp.port), TimeoutInMs: tc.timeoutMs})
			msgs := watch(t, c, id, 20*time.Second, nil)
			f := final(t, msgs)
			if f.Status != call.StatusFailed || f.EndReason != call.EndFailed || f.Reason != tc.reason || f.ReasonCode != tc.reasonCode {
				t.Fatalf("final %+v, want failed %q/%q", f, tc.reason, tc.reasonCode)
			}
			if len(amdEvents(msgs)) != 0 {
				t.Errorf("AMD events on an unanswered call: %s", render(msgs))
			}
			if err := sipp.wait(t, 10*time.Second); err != nil {
				t.Fatalf("sipp (ACK/CANCEL missing?): %v", err)
			}
		})
	}
}

func TestE2EInboundInviteRejected(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil)
	sipp := startSIPp(t, "uac_invite.xml", nil, svc.svc.SIPAddr().String())
	if err := sipp.wait(t, 20*time.Second); err != nil {
		t.Fatalf("sipp did not get a 403: %v", err)
	}
	if n := len(svc.svc.Manager().ActiveCalls()); n != 0 {
		t.Fatalf("%d calls after an inbound INVITE", n)
	}
}

func TestE2EControlBadInputAndAuth(t *testing.T) {
	t.Parallel()
	svc := startService(t, func(c *ServiceConfig) { c.ControlToken = "e2e-token" })
	// No token: 401.
	if _, err := control.Connect(context.Background(), svc.url, ""); !errors.Is(err, control.ErrUnauthorized) {
		t.Fatalf("connect without token: %v", err)
	}
	hdr := http.Header{"Authorization": {"Bearer e2e-token"}}
	ws, resp, err := websocket.DefaultDialer.Dial(svc.url, hdr)
	if err != nil {
		t.Fatalf("ws: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	tests := []struct {
		in, code, field string
	}{
		{`{{{`, control.CodeBadMessage, ""},
		{`{"v":1,"type":"nope","id":"1"}`, control.CodeBadMessage, "type"},
		{`{"v":3,"type":"ping","id":"2"}`, control.CodeBadMessage, "v"},
		{`{"v":1,"type":"dial","id":"3","caller":"x"}`, control.CodeInvalidField, "target"},
		{`{"v":1,"type":"dial","id":"4","target":"sip:a@127.0.0.1:9","caller":"x","trunk":"ghost"}`, control.CodeInvalidField, "trunk"},
		{`{"v":1,"type":"dial","id":"5","target":"sip:a@127.0.0.1:9","caller":"x","machineDetection":"sometimes"}`, control.CodeInvalidField, "machineDetection"},
		{`{"v":1,"type":"hangup","id":"6","callId":"ghost"}`, control.CodeUnknownCall, ""},
	}
	for _, tc := range tests {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("%s: connection dropped: %v", tc.in, err)
		}
		msg, _, err := control.DecodeServerMessage(data)
		e, ok := msg.(*control.Error)
		if err != nil || !ok || e.Code != tc.code || e.Field != tc.field {
			t.Fatalf("%s → %s, want %s/%s", tc.in, data, tc.code, tc.field)
		}
	}
	// Health and metrics on the same listener.
	base := "http://" + svc.svc.ControlAddr().String()
	for _, path := range []string{"/healthz", "/metrics"} {
		r, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if path == "/metrics" && (!strings.Contains(body.String(), "amd_control_bad_messages_total 5") || !strings.Contains(body.String(), "amd_control_unauthorized_total 1")) {
			t.Errorf("metrics do not count the refusals:\n%s", grepLines(body.String(), "amd_control"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2EShutdownHangsUpLiveCall: SIGTERM's path (Service.Shutdown) with an
// answered call — the callee gets a BYE, the client gets the final status
// (KoreVG-disconnected) before its connection is closed, and nothing leaks.
func TestE2EShutdownHangsUpLiveCall(t *testing.T) {
	t.Parallel()
	wav, _ := sipptest.CorpusClip(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	svc := startService(t, nil)
	sipp := startSIPp(t, "uas_stream.xml", map[string]string{"WAV": wav}, "")
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:human@127.0.0.1:%d", sipp.port)})
	stopped := make(chan error, 1)
	msgs := watch(t, c, id, 30*time.Second, func(in control.Incoming) {
		if in.Status != nil && in.Status.Status == call.StatusAnswered {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				stopped <- svc.svc.Shutdown(ctx)
			}()
		}
	})
	f := final(t, msgs)
	if f.Status != call.StatusCompleted || f.EndReason != call.EndEngineDisconnected {
		t.Fatalf("final %+v, want completed KoreVG-disconnected", f)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("control connection still open after shutdown")
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not get the BYE: %v", err)
	}
}

// TestE2EMediaTimeout: the callee answers and never sends RTP.
func TestE2EMediaTimeout(t *testing.T) {
	t.Parallel()
	svc := startService(t, nil) // media timeout 3 s
	sipp := startSIPp(t, "uas_silent.xml", nil, "")
	c := connectClient(t, svc.url, "")
	start := time.Now()
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:mute@127.0.0.1:%d", sipp.port)})
	msgs := watch(t, c, id, 30*time.Second, nil)
	t.Logf("%s after %v", render(msgs), time.Since(start).Round(time.Millisecond))
	evs := amdEvents(msgs)
	if len(evs) != 2 || evs[0] != engine.EventError || evs[1] != engine.EventStopped {
		t.Fatalf("events %v, want amd_error then amd_stopped", evs)
	}
	for _, in := range msgs {
		if in.AMD != nil && in.AMD.Event.Type == engine.EventError && in.AMD.Reason != engine.ReasonMediaTimeout {
			t.Errorf("amd_error reason %q", in.AMD.Reason)
		}
	}
	f := final(t, msgs)
	if f.Status != call.StatusCompleted || f.EndReason != call.EndEngineDisconnected {
		t.Fatalf("final %+v, want completed KoreVG-disconnected", f)
	}
	if c := f.Timings.CallDurationInMs; c < 2900 || c > 8000 {
		t.Errorf("call duration %d ms for a 3 s media timeout", c)
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not get the BYE: %v", err)
	}
}

// TestE2EAtCapacity: with --max-calls 1, a second dial while the first
// rings is refused with at_capacity; hanging up the ringing call cancels it.
func TestE2EAtCapacity(t *testing.T) {
	t.Parallel()
	svc := startService(t, func(c *ServiceConfig) { c.Manager.MaxCalls = 1 })
	sipp := startSIPp(t, "uas_noanswer.xml", nil, "")
	c := connectClient(t, svc.url, "")
	first := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:ring@127.0.0.1:%d", sipp.port), TimeoutInMs: 20000})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Dial(ctx, control.Dial{Target: fmt.Sprintf("sip:other@127.0.0.1:%d", sipp.port), Caller: "amd-e2e"})
	if !errors.Is(err, control.ErrAtCapacity) {
		t.Fatalf("second dial: %v, want at_capacity", err)
	}
	if err := c.Hangup(ctx, first); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	msgs := watch(t, c, first, 20*time.Second, nil)
	f := final(t, msgs)
	if f.Status != call.StatusFailed || f.EndReason != call.EndFailed || f.ReasonCode != "Request Terminated" {
		t.Fatalf("final %+v, want failed 487 after our CANCEL", f)
	}
	if err := sipp.wait(t, 10*time.Second); err != nil {
		t.Fatalf("sipp did not see CANCEL/ACK: %v", err)
	}
}

// TestE2ETrunkDigestAuth: a number target goes through the configured
// trunk, whose credentials answer the carrier's 401 challenge; wrong
// credentials end in the carrier's 403.
func TestE2ETrunkDigestAuth(t *testing.T) {
	t.Parallel()
	wav, _ := sipptest.CorpusClip(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	tests := []struct {
		name, password string
		wantHuman      bool
		reason         string
	}{
		{"right credentials", "s3cret", true, ""},
		{"wrong credentials", "guess", false, "403 Bad Credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sipp := startSIPp(t, "uas_auth_stream.xml", map[string]string{"WAV": wav}, "")
			svc := startService(t, func(c *ServiceConfig) {
				c.SIP.Trunks = []sip.Trunk{{Name: "carrier", Host: "127.0.0.1", Port: sipp.port, Username: "amd", Password: tc.password}}
			})
			c := connectClient(t, svc.url, "")
			id := dialCall(t, c, control.Dial{Target: "+15550001", Trunk: "carrier"})
			msgs := watch(t, c, id, 45*time.Second, func(in control.Incoming) {
				// A person answered (the detector would go on listening
				// for a late beep) or AMD is over: the application hangs up.
				if in.AMD != nil && (in.AMD.Event.Type == engine.EventHumanDetected || in.AMD.Event.Type == engine.EventStopped) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = c.Hangup(ctx, id)
				}
			})
			t.Logf("%s", render(msgs))
			f := final(t, msgs)
			if tc.wantHuman {
				if evs := amdEvents(msgs); len(evs) == 0 || evs[0] != engine.EventHumanDetected {
					t.Fatalf("events %v", evs)
				}
				if f.Status != call.StatusCompleted || f.EndReason != call.EndBotDisconnected {
					t.Fatalf("final %+v", f)
				}
			} else if f.Status != call.StatusFailed || f.Reason != tc.reason {
				t.Fatalf("final %+v, want failed %q", f, tc.reason)
			}
			if err := sipp.wait(t, 10*time.Second); err != nil {
				t.Fatalf("sipp: %v", err)
			}
		})
	}
}
