package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/store"
)

// crashStore is a store whose process "dies" when armed: updates fail as
// if the database were gone, so events the gateway received from then on
// are never stored — what a kill -9 does to events in flight.
type crashStore struct {
	*store.SQLite
	dead atomic.Bool
}

var errKilled = fmt.Errorf("process killed: %w", store.ErrClosed)

func (s *crashStore) UpdateCalls(ctx context.Context, u []store.CallUpdate) ([]error, error) {
	if s.dead.Load() {
		return nil, errKilled
	}
	return s.SQLite.UpdateCalls(ctx, u)
}

func (s *crashStore) UpdateCall(ctx context.Context, id string, fn func(c *store.Call) ([]store.Notification, error)) error {
	if s.dead.Load() {
		return errKilled
	}
	return s.SQLite.UpdateCall(ctx, id, fn)
}

// startCrashableGateway is startGateway over a crashStore.
func startCrashableGateway(t *testing.T, cfg Config, dbPath string) (*harness, *crashStore) {
	t.Helper()
	cfg.DB = dbPath
	sq, err := store.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	cs := &crashStore{SQLite: sq}
	gw, err := New(cfg, cs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, gw: gw, st: sq, api: newAPIServer(gw), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = gw.Run(ctx) }()
	h.token, _ = auth.Mint([]byte(testJWTSecret), "app-1", time.Hour, time.Now())
	t.Cleanup(h.stop)
	return h, cs
}

// TestResubscribeReplaysMissedEvents: the gateway "dies" (its store stops
// taking writes) right after it stored Answered, while the engine goes on
// sending the call's AMD events and final status. A new gateway on the same
// database re-subscribes, and the engine's replayed history yields exactly
// the notifications that were missing, in order, under the next keys — no
// repeat of Answered, and the call resolved by its real outcome at once,
// not failed at the engine-loss timeout.
func TestResubscribeReplaysMissedEvents(t *testing.T) {
	tick := pause(5 * time.Millisecond)
	tests := []struct {
		name string
		// before: published before the crash (stored); missed: published
		// while the gateway is dead; after: published once the new gateway
		// is up (live events following the replay).
		before, missed, after func(id string) []any
		want                  string
		wantStatus            string
	}{
		{
			name: "call ended while the gateway was dead",
			before: func(id string) []any {
				return []any{status(id, call.StatusTrying), status(id, call.StatusRinging), status(id, call.StatusAnswered)}
			},
			missed: func(id string) []any {
				return []any{amd(id, 1, engine.EventMachineDetected, engine.ReasonLongGreeting, 4200), tick,
					amd(id, 2, engine.EventStopped, engine.ReasonStopped, 4300), tick,
					status(id, call.StatusCompleted, func(s *control.CallStatus) { s.EndReason = call.EndMachineDetected })}
			},
			want:       "Answered Call-In-Progress/amd_machine_detected Call-In-Progress/amd_stopped completed",
			wantStatus: store.StatusMachineDetected,
		},
		{
			name: "live call: replay then live events",
			before: func(id string) []any {
				return []any{status(id, call.StatusTrying), status(id, call.StatusAnswered)}
			},
			missed: func(id string) []any {
				return []any{amd(id, 1, engine.EventHumanDetected, engine.ReasonShortGreeting, 1800)}
			},
			after: func(id string) []any {
				return []any{amd(id, 2, engine.EventStopped, engine.ReasonCompleted, 1900), tick,
					status(id, call.StatusCompleted, func(s *control.CallStatus) { s.EndReason = call.EndCallerDisconnected })}
			},
			want:       "Answered Call-In-Progress/amd_human_detected Call-In-Progress/amd_stopped completed",
			wantStatus: store.StatusCompleted,
		},
		{
			name: "nothing stored but the dial",
			before: func(id string) []any {
				return nil
			},
			missed: func(id string) []any {
				return []any{status(id, call.StatusTrying), status(id, call.StatusFailed, func(s *control.CallStatus) {
					s.Reason, s.ReasonCode, s.EndReason = "486 Busy Here", "Busy Here", call.EndFailed
				})}
			},
			want:       "Failed",
			wantStatus: store.StatusFailed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := newFakeEngine(t)
			eng.script = func(control.Dial) []any { return nil } // the test publishes
			snk := newSink(t)
			db := filepath.Join(t.TempDir(), "gw.db")
			cfg := testConfig(eng.url())
			cfg.EngineLossTimeout = time.Minute // resolution must not come from the timeout
			h1, cs := startCrashableGateway(t, cfg, db)
			h1.waitEngines(1)
			code, res := h1.dialout(dialBody("sip:x@x.y", snk.srv.URL))
			if code != 200 {
				t.Fatalf("dialout %d %v", code, res)
			}
			id := res["callId"].(string)
			before, missed := tc.before(id), tc.missed(id)
			var after []any
			if tc.after != nil {
				after = tc.after(id)
			}
			eng.run(id, before)
			waitUntil(t, "the notifications before the crash", 5*time.Second, func() bool { return len(snk.forCall(id)) == notesOf(before) })
			cs.dead.Store(true) // kill -9: from here on nothing is stored
			eng.run(id, missed)
			time.Sleep(50 * time.Millisecond) // they reach the dead gateway, which drops them
			h1.stop()
			if n := len(snk.forCall(id)); n != notesOf(before) {
				t.Fatalf("%d notifications from the dead gateway", n)
			}

			start := time.Now()
			h2 := startGateway(t, cfg, db)
			waitUntil(t, "the replay's notifications", 5*time.Second, func() bool { return len(snk.forCall(id)) == notesOf(before)+notesOf(missed) })
			eng.run(id, after)
			total := notesOf(before) + notesOf(missed) + notesOf(after)
			waitUntil(t, "every notification", 5*time.Second, func() bool { return len(snk.forCall(id)) >= total })
			time.Sleep(100 * time.Millisecond) // a duplicate would show up now
			notes := snk.forCall(id)
			if got := strings.Join(statuses(notes), " "); got != tc.want {
				t.Fatalf("notifications %s, want %s", got, tc.want)
			}
			for i, n := range notes {
				if want := fmt.Sprintf("%s.%d", id, i+1); n.Key != want {
					t.Fatalf("notification %d key %q, want %q", i, n.Key, want)
				}
				if n.SigErr != nil {
					t.Fatal(n.SigErr)
				}
			}
			c, err := h2.st.GetCall(context.Background(), id)
			if err != nil || c.Status != tc.wantStatus {
				t.Fatalf("record %+v %v, want %s", c, err, tc.wantStatus)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("resolved after %v", took)
			}
		})
	}
}

// run publishes a call's events in order, now.
func (f *fakeEngine) run(callID string, events []any) {
	for _, ev := range events {
		if p, ok := ev.(pause); ok {
			time.Sleep(time.Duration(p))
			continue
		}
		f.publish(callID, ev)
	}
}

// notesOf counts the notifications events cause for a call subscribed to
// every AMD event.
func notesOf(events []any) int {
	n := 0
	for _, ev := range events {
		switch e := ev.(type) {
		case *control.AMDEvent:
			n++
		case *control.CallStatus:
			if e.Status == call.StatusAnswered || e.Status.Final() {
				n++
			}
		}
	}
	return n
}

func newAPIServer(g *Gateway) *httptest.Server { return httptest.NewServer(g.Handler()) }
