package e2e

// End to end with the real engine: amdd's daemon.Service in-process on
// loopback (real SIP user agent, RTP, decoding, detector), SIPp as the
// callee streaming a corpus clip, the gateway in-process talking to amdd
// over the real control channel, and an httptest receiver verifying the
// notifications. An independent control.Client subscribed to every call
// records what amdd said, so the test checks that notifications map
// exactly from call.status / amd.event.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/daemon"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/gateway"
	"github.com/amd-engine/amd/gateway/store"
	"github.com/amd-engine/amd/internal/sipptest"
	"github.com/amd-engine/amd/sip"
)

// startAmdd runs amdd's service on free loopback ports.
func startAmdd(t *testing.T) string {
	t.Helper()
	// A random RTP range away from the daemon package's tests.
	lo := 20000 + 2*rand.IntN(4000)
	svc, err := daemon.NewService(daemon.ServiceConfig{
		SIP: sip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: lo, RTPPortMax: lo + 98,
			MediaTimeout: 3 * time.Second, PortDrain: 100 * time.Millisecond},
		ControlListen: "127.0.0.1:0",
		Manager:       daemon.Config{MediaTimeout: 3 * time.Second, HangupTimeout: 3 * time.Second},
		Log:           zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("amdd: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatalf("amdd start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("amdd shutdown: %v", err)
		}
	})
	return svc.ControlURL()
}

// startCallee runs SIPp with a scenario of testdata/sipp and returns its port.
func startCallee(t *testing.T, scenario string, vars map[string]string) int {
	t.Helper()
	return sipptest.Start(t, sipptest.Options{Scenario: filepath.Join("testdata", "sipp", scenario), Vars: vars}).Port
}

// clipFor returns a mu-law WAV of a corpus clip of label that the engine,
// fed the file offline, decides as want: the live path is then expected to
// reach a verdict too (which one is read from amdd, not assumed).
func clipFor(t *testing.T, label string, want engine.EventType, filter func(fixtures.Clip) bool) string {
	t.Helper()
	wav, _ := sipptest.CorpusClip(t, label, want, filter)
	return wav
}

// observer records every event amdd publishes, as a second control client.
type observer struct {
	mu  sync.Mutex
	got map[string][]control.Incoming
}

func observe(t *testing.T, url string) *observer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := control.Connect(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, ""); err != nil {
		t.Fatal(err)
	}
	o := &observer{got: map[string][]control.Incoming{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for in := range c.Events() {
			o.mu.Lock()
			o.got[in.CallID] = append(o.got[in.CallID], in)
			o.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return o
}

// expected derives, from what amdd said about a call, the notification
// sequence the gateway owes: the mapping under test, written independently.
func (o *observer) expected(id string, sub func(engine.EventType) bool) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, in := range o.got[id] {
		switch {
		case in.Status != nil:
			switch in.Status.Status {
			case "answered":
				out = append(out, "Answered")
			case "completed":
				return append(out, "completed")
			case "failed":
				return append(out, "Failed")
			}
		case in.AMD != nil && sub(in.AMD.Event.Type):
			out = append(out, "Call-In-Progress/"+string(in.AMD.Event.Type))
		}
	}
	return out
}

func all(engine.EventType) bool { return true }

func TestE2EWithAmdd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs amdd and SIPp")
	}
	amddURL := startAmdd(t)
	obs := observe(t, amddURL)
	snk := newSink(t)
	h := startGateway(t, amddURL)

	tests := []struct {
		name     string
		scenario func(t *testing.T) (string, map[string]string)
		mut      func(b map[string]any)
		sub      func(engine.EventType) bool
		status   string
		check    func(t *testing.T, notes []gotNote)
	}{
		{name: "busy 486", scenario: func(*testing.T) (string, map[string]string) { return "uas_busy.xml", nil },
			sub: all, status: store.StatusFailed,
			check: func(t *testing.T, notes []gotNote) {
				b := notes[len(notes)-1].Body
				if b["reason"] != "486 Busy Here" || b["reasonCode"] != "Busy Here" {
					t.Fatalf("Failed: %s", notes[len(notes)-1].Raw)
				}
			}},
		{name: "human callee hangs up", scenario: func(t *testing.T) (string, map[string]string) {
			wav := clipFor(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
			return "uas_stream_bye.xml", map[string]string{"WAV": wav, "BYE_MS": "6000"}
		}, sub: all, status: store.StatusCompleted,
			check: func(t *testing.T, notes []gotNote) {
				done := notes[len(notes)-1].Body
				if done["endReason"] != "Caller-disconnected" || done["callDuration"] == nil || done["callDisconnectTime"] == "" {
					t.Fatalf("completed: %s", notes[len(notes)-1].Raw)
				}
			}},
		{name: "machine disconnect mode no AMD subscription", scenario: func(t *testing.T) (string, map[string]string) {
			wav := clipFor(t, "machine", engine.EventMachineDetected, func(c fixtures.Clip) bool { return c.DurationMs < 12000 })
			return "uas_stream.xml", map[string]string{"WAV": wav}
		}, mut: func(b map[string]any) {
			b["machineDetection"] = "disconnect"
			b["amdEventsSubscription"] = []string{}
		}, sub: func(engine.EventType) bool { return false }, status: store.StatusMachineDetected,
			check: func(t *testing.T, notes []gotNote) {
				if got := fmt.Sprint(statuses(notes)); got != "[Answered completed]" {
					t.Fatalf("with [] subscription: %s", got)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scen, vars := tc.scenario(t)
			port := startCallee(t, scen, vars)
			b := dialBody(fmt.Sprintf("sip:amd@127.0.0.1:%d", port), snk.srv.URL)
			if tc.mut != nil {
				tc.mut(b)
			}
			code, res := h.dialout(b)
			if code != 200 {
				t.Fatalf("dialout %d %v", code, res)
			}
			id := res["callId"].(string)
			waitUntil(t, "final notification", 60*time.Second, func() bool {
				notes := snk.forCall(id)
				if len(notes) == 0 {
					return false
				}
				s := notes[len(notes)-1].Body["status"]
				return s == gateway.NotifyCompleted || s == gateway.NotifyFailed
			})
			time.Sleep(100 * time.Millisecond)
			notes := snk.forCall(id)
			want := obs.expected(id, tc.sub)
			if got := statuses(notes); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("notifications %v; amdd said %v", got, want)
			}
			for _, n := range notes {
				if n.SigErr != nil || n.Header.Get("X-Tenant") != "acme" {
					t.Fatalf("signature %v, headers %v", n.SigErr, n.Header)
				}
			}
			if tc.check != nil {
				tc.check(t, notes)
			}
			waitUntil(t, "record final", 5*time.Second, func() bool {
				c, err := h.st.GetCall(context.Background(), id)
				return err == nil && c.Status == tc.status
			})
			t.Logf("%s: %v", tc.name, statuses(notes))
		})
	}
}
