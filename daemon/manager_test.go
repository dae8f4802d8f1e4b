package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testEnv struct {
	m    *Manager
	d    *fakeDialer
	rec  *recorder
	dets chan *fakeDetector
}

func newEnv(t *testing.T, cfg Config, mkCall func(DialRequest) *fakeCall, script map[int64][]engine.Event, doneAt int64) *testEnv {
	t.Helper()
	env := &testEnv{d: &fakeDialer{make: mkCall}, rec: newRecorder(), dets: make(chan *fakeDetector, 16)}
	cfg.NewDetector = func(engine.Config) (Detector, error) {
		det := &fakeDetector{script: script, doneAt: doneAt}
		env.dets <- det
		return det, nil
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Millisecond
	}
	m, err := New(cfg, env.d, env.rec)
	if err != nil {
		t.Fatal(err)
	}
	env.m = m
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return env
}

func (e *testEnv) dial(t *testing.T, d control.Dial) string {
	t.Helper()
	if d.CallID == "" {
		d.CallID = fmt.Sprintf("call-%d", time.Now().UnixNano())
	}
	if d.Target == "" {
		d.Target = "sip:callee@127.0.0.1:5070"
	}
	if d.Caller == "" {
		d.Caller = "amd"
	}
	id, err := e.m.Dial(context.Background(), d)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return id
}

func finalOf(msgs []any) *control.CallStatus { return msgs[len(msgs)-1].(*control.CallStatus) }

func TestCallLifecycles(t *testing.T) {
	human := map[int64][]engine.Event{50: {ev(engine.EventHumanDetected, engine.ReasonShortGreeting, 1000)}}
	machine := map[int64][]engine.Event{
		100: {ev(engine.EventMachineDetected, engine.ReasonWordCount, 2000)},
		150: {ev(engine.EventToneDetected, engine.ReasonBeep, 3000)},
	}
	tests := []struct {
		name        string
		dial        control.Dial
		media       func() *fakeMedia
		script      map[int64][]engine.Event
		doneAt      int64
		drive       func(t *testing.T, env *testEnv, c *fakeCall, id string)
		want        string
		wantHangups int32
		check       func(t *testing.T, final *control.CallStatus, msgs []any)
	}{
		{
			name:   "human then callee bye",
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(80); return m },
			script: human,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressTrying}
				c.progress <- Progress{Kind: ProgressRinging}
				time.Sleep(20 * time.Millisecond)
				c.progress <- Progress{Kind: ProgressAnswered}
				env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventHumanDetected))
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying ringing answered amd_human_detected amd_stopped completed/Caller-disconnected",
			check: func(t *testing.T, f *control.CallStatus, msgs []any) {
				// ring: first 18x → answer; connect: INVITE → answer, so never shorter; the
				// fake answers and hangs up within a millisecond, so call duration may be 0;
				// the owner notes the ringing when it reads it, a little after the send
				if f.Timings.RingDurationInMs < 10 || f.Timings.ConnectDurationInMs < f.Timings.RingDurationInMs || f.Timings.CallDurationInMs < 0 {
					t.Errorf("timings %+v", f.Timings)
				}
				for i, m := range msgs {
					if a, ok := m.(*control.AMDEvent); ok && a.Seq != i-2 {
						t.Errorf("%s seq %d at position %d", a.Event.Type, a.Seq, i)
					}
				}
			},
		},
		{
			name: "busy",
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressFailed, Err: errBusy}
			},
			want: "trying failed/Failed",
			check: func(t *testing.T, f *control.CallStatus, _ []any) {
				if f.Reason != "486 Busy Here" || f.ReasonCode != "Busy Here" || f.Timings.ConnectDurationInMs != 0 {
					t.Errorf("final %+v", f)
				}
			},
		},
		{
			name: "no answer",
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressRinging}
				c.progress <- Progress{Kind: ProgressFailed, Err: fmt.Errorf("invite: %w", sip.ErrNoAnswer)}
			},
			want: "trying ringing failed/Failed",
			check: func(t *testing.T, f *control.CallStatus, _ []any) {
				if f.Reason != "No Answer" || f.ReasonCode != "No Answer" {
					t.Errorf("final %+v", f)
				}
			},
		},
		{
			name: "ring guard when dialer never reports",
			dial: control.Dial{TimeoutInMs: 100},
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressRinging}
			},
			want: "trying ringing failed/Failed", wantHangups: 1,
		},
		{
			name:   "disconnect mode hangs up on machine",
			dial:   control.Dial{MachineDetection: engine.ModeDisconnect},
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(-1); return m },
			script: machine,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
			},
			want: "trying answered amd_machine_detected amd_stopped completed/machineDetected", wantHangups: 1,
		},
		{
			name:   "detect mode reports machine and beep, bot hangs up",
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(-1); return m },
			script: machine, doneAt: 151,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
				env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventToneDetected))
				if err := env.m.Hangup(id); err != nil {
					t.Errorf("hangup: %v", err)
				}
			},
			want: "trying answered amd_machine_detected amd_tone_detected amd_stopped completed/Bot-disconnected", wantHangups: 1,
		},
		{
			name:  "media timeout",
			media: func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(10); return m },
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
			},
			want: "trying answered amd_error amd_stopped completed/KoreVG-disconnected", wantHangups: 1,
			check: func(t *testing.T, _ *control.CallStatus, msgs []any) {
				a := msgs[2].(*control.AMDEvent)
				if a.Reason != engine.ReasonMediaTimeout || a.Message == "" {
					t.Errorf("amd_error %+v", a.Event)
				}
			},
		},
		{
			name:  "media error from session",
			media: func() *fakeMedia { return &fakeMedia{err: fmt.Errorf("rtp: %w", sip.ErrMediaTimeout)} },
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
			},
			want: "trying answered amd_error amd_stopped completed/KoreVG-disconnected", wantHangups: 1,
		},
		{
			name:  "session closed by a BYE",
			media: func() *fakeMedia { return &fakeMedia{err: sip.ErrClosed} },
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying answered amd_stopped completed/Caller-disconnected",
		},
		{
			name: "hangup before answer",
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressRinging}
				env.rec.waitFor(t, id, 5*time.Second, isStatus(call.StatusRinging))
				if err := env.m.Hangup(id); err != nil {
					t.Errorf("hangup: %v", err)
				}
			},
			want: "trying ringing failed/Failed", wantHangups: 1,
		},
		{
			name:   "amd.stop then callee bye",
			media:  func() *fakeMedia { m := &fakeMedia{pace: time.Millisecond}; m.frames.Store(-1); return m },
			script: map[int64][]engine.Event{},
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
				env.rec.waitFor(t, id, 5*time.Second, isStatus(call.StatusAnswered))
				if err := env.m.StopAMD(id); err != nil {
					t.Errorf("amd.stop: %v", err)
				}
				env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventStopped))
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying answered amd_stopped completed/Caller-disconnected",
		},
		{
			name:   "disabled mode runs no detector",
			dial:   control.Dial{MachineDetection: engine.ModeDisabled},
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(200); return m },
			script: human,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
				time.Sleep(50 * time.Millisecond)
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying answered completed/Caller-disconnected",
		},
		{
			name:   "event subscription filters and renumbers",
			dial:   control.Dial{AMDEventsSubscription: []string{"amd_tone_detected"}},
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(-1); return m },
			script: machine, doneAt: 151,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressAnswered}
				env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventToneDetected))
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying answered amd_tone_detected completed/Caller-disconnected",
			check: func(t *testing.T, _ *control.CallStatus, msgs []any) {
				if a := msgs[2].(*control.AMDEvent); a.Seq != 1 {
					t.Errorf("filtered event seq %d, want 1", a.Seq)
				}
			},
		},
		{
			name:   "early media is drained before answer",
			media:  func() *fakeMedia { m := &fakeMedia{}; m.frames.Store(-1); return m },
			script: human,
			drive: func(t *testing.T, env *testEnv, c *fakeCall, id string) {
				c.progress <- Progress{Kind: ProgressEarlyMedia}
				time.Sleep(30 * time.Millisecond)
				if c.media.Load().reads.Load() == 0 {
					t.Error("early media not read")
				}
				c.progress <- Progress{Kind: ProgressAnswered}
				env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventHumanDetected))
				c.progress <- Progress{Kind: ProgressRemoteBye}
			},
			want: "trying ringing answered amd_human_detected amd_stopped completed/Caller-disconnected",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var fc *fakeCall
			mk := func(DialRequest) *fakeCall {
				var media *fakeMedia
				if tc.media != nil {
					media = tc.media()
				}
				fc = newFakeCall(media)
				return fc
			}
			env := newEnv(t, Config{MediaTimeout: 150 * time.Millisecond}, mk, tc.script, tc.doneAt)
			id := env.dial(t, tc.dial)
			tc.drive(t, env, env.d.get(id), id)
			msgs := env.rec.waitFinal(t, id, 10*time.Second)
			if got := summary(msgs); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			c := env.d.get(id)
			if got := c.hangups.Load(); got != tc.wantHangups {
				t.Errorf("hangups = %d, want %d", got, tc.wantHangups)
			}
			if tc.check != nil {
				tc.check(t, finalOf(msgs), msgs)
			}
			waitGone(t, env.m, id)
			// The owner releases the call (after the final status) before it is gone.
			if !c.closed.Load() {
				t.Error("call not closed")
			}
			if err := env.m.Hangup(id); !errors.Is(err, control.ErrUnknownCall) {
				t.Errorf("hangup of ended call: %v, want ErrUnknownCall", err)
			}
		})
	}
}

func waitGone(t *testing.T, m *Manager, id string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if len(m.ActiveCalls()) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("call %s still active", id)
}

func isEvent(e engine.EventType) func(any) bool {
	return func(m any) bool { a, ok := m.(*control.AMDEvent); return ok && a.Event.Type == e }
}

func isStatus(s call.Status) func(any) bool {
	return func(m any) bool { c, ok := m.(*control.CallStatus); return ok && c.Status == s }
}

func TestDialRefusals(t *testing.T) {
	env := newEnv(t, Config{MaxCalls: 1, Trunks: []string{"main", "backup"}},
		func(DialRequest) *fakeCall { return newFakeCall(nil) }, nil, 0)
	first := env.dial(t, control.Dial{CallID: "one"})
	tests := []struct {
		name      string
		d         control.Dial
		dialerErr error
		sentinel  error
		field     string
	}{
		{"duplicate id", control.Dial{CallID: "one"}, nil, control.ErrInvalidField, "callId"},
		{"unknown trunk", control.Dial{CallID: "two", Trunk: "nope"}, nil, control.ErrInvalidField, "trunk"},
		{"at capacity", control.Dial{CallID: "two", Trunk: "backup"}, nil, control.ErrAtCapacity, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Target, tc.d.Caller = "+1555", "amd"
			_, err := env.m.Dial(context.Background(), tc.d)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var fe *control.FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Fatalf("err = %#v, want field %q", err, tc.field)
			}
		})
	}
	if got := metricValue(t, env.m.Metrics().Registry, "amd_dial_refused_total", "code", control.CodeAtCapacity); got != 1 {
		t.Errorf("at_capacity refusals metric = %v, want 1", got)
	}
	env.d.get(first).progress <- Progress{Kind: ProgressFailed, Err: errBusy}
	env.rec.waitFinal(t, first, 5*time.Second)
	waitGone(t, env.m, first)

	// Dialer errors map to fields too.
	dialerErrs := []struct {
		err   error
		field string
		code  error
	}{
		{fmt.Errorf("x: %w", sip.ErrBadTarget), "target", control.ErrInvalidField},
		{fmt.Errorf("x: %w", sip.ErrUnknownTrunk), "trunk", control.ErrInvalidField},
		{fmt.Errorf("x: %w", sip.ErrNoPorts), "", control.ErrAtCapacity},
	}
	for _, de := range dialerErrs {
		env.d.mu.Lock()
		env.d.err = de.err
		env.d.mu.Unlock()
		_, err := env.m.Dial(context.Background(), control.Dial{CallID: "x", Target: "+1", Caller: "a"})
		if !errors.Is(err, de.code) {
			t.Errorf("dialer %v → %v, want %v", de.err, err, de.code)
		}
		if len(env.m.ActiveCalls()) != 0 {
			t.Errorf("failed dial left a call behind")
		}
	}
}

func TestShutdownHangsUpEveryCall(t *testing.T) {
	env := newEnv(t, Config{}, func(DialRequest) *fakeCall {
		m := &fakeMedia{pace: time.Millisecond}
		m.frames.Store(-1)
		return newFakeCall(m)
	}, nil, 0)
	answered := env.dial(t, control.Dial{CallID: "answered"})
	ringing := env.dial(t, control.Dial{CallID: "ringing"})
	env.d.get(answered).progress <- Progress{Kind: ProgressAnswered}
	env.d.get(ringing).progress <- Progress{Kind: ProgressRinging}
	env.rec.waitFor(t, answered, 5*time.Second, isStatus(call.StatusAnswered))
	env.rec.waitFor(t, ringing, 5*time.Second, isStatus(call.StatusRinging))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := env.m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := summary(env.rec.get(answered)); got != "trying answered amd_stopped completed/KoreVG-disconnected" {
		t.Errorf("answered call: %s", got)
	}
	if got := summary(env.rec.get(ringing)); got != "trying ringing failed/Failed" {
		t.Errorf("ringing call: %s", got)
	}
	for _, id := range []string{answered, ringing} {
		if env.d.get(id).hangups.Load() != 1 {
			t.Errorf("%s not hung up", id)
		}
	}
	if _, err := env.m.Dial(context.Background(), control.Dial{CallID: "late", Target: "+1", Caller: "a"}); err == nil {
		t.Error("dial after shutdown accepted")
	}
	if got := metricValue(t, env.m.Metrics().Registry, "amd_active_calls"); got != 0 {
		t.Errorf("active calls gauge = %v after shutdown", got)
	}
	if got := metricValue(t, env.m.Metrics().Registry, "amd_calls_ended_total", "end_reason", string(call.EndEngineDisconnected)); got != 1 {
		t.Errorf("KoreVG-disconnected ends = %v, want 1", got)
	}
}

func TestMetricsAfterCall(t *testing.T) {
	env := newEnv(t, Config{}, func(DialRequest) *fakeCall {
		m := &fakeMedia{}
		m.frames.Store(60)
		return newFakeCall(m)
	}, map[int64][]engine.Event{50: {ev(engine.EventHumanDetected, engine.ReasonShortGreeting, 1000)}}, 0)
	id := env.dial(t, control.Dial{})
	c := env.d.get(id)
	c.progress <- Progress{Kind: ProgressAnswered}
	env.rec.waitFor(t, id, 5*time.Second, isEvent(engine.EventHumanDetected))
	// Let all 60 frames be read before the BYE, so the counters are exact.
	for deadline := time.Now().Add(5 * time.Second); c.media.Load().frames.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	c.progress <- Progress{Kind: ProgressRemoteBye}
	env.rec.waitFinal(t, id, 5*time.Second)
	waitGone(t, env.m, id)
	mt := env.m.Metrics()
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"human events", metricValue(t, mt.Registry, "amd_events_total", "event", "amd_human_detected"), 1},
		{"caller-disconnected", metricValue(t, mt.Registry, "amd_calls_ended_total", "end_reason", "Caller-disconnected"), 1},
		{"answered", metricValue(t, mt.Registry, "amd_call_status_total", "status", "answered"), 1},
		{"rtp packets", metricValue(t, mt.Registry, "amd_rtp_packets_total"), 60},
		{"rtp lost", metricValue(t, mt.Registry, "amd_rtp_lost_total"), 1},
		{"decisions observed", metricValue(t, mt.Registry, "amd_decision_audio_ms"), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !env.rec.forgot[id] {
		t.Error("publisher routing not released (Forget)")
	}
}

// BenchmarkMediaLoop measures the owner goroutine's per-frame cost with a
// detector that says nothing: ReadFrame, the channel polls, Process. It
// must allocate nothing per frame.
func BenchmarkMediaLoop(b *testing.B) {
	rec := newRecorder()
	media := &fakeMedia{}
	media.frames.Store(int64(b.N))
	fc := newFakeCall(media)
	d := &fakeDialer{make: func(DialRequest) *fakeCall { return fc }}
	det := &fakeDetector{}
	m, err := New(Config{NewDetector: func(engine.Config) (Detector, error) { return det, nil }, MediaTimeout: time.Hour}, d, rec)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	id, err := m.Dial(context.Background(), control.Dial{CallID: "bench", Target: "+1", Caller: "a"})
	if err != nil {
		b.Fatal(err)
	}
	fc.progress <- Progress{Kind: ProgressAnswered}
	for media.frames.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	fc.progress <- Progress{Kind: ProgressRemoteBye}
	for len(m.ActiveCalls()) > 0 {
		time.Sleep(time.Millisecond)
	}
	_ = id
	b.ReportMetric(float64(b.N)*20e6/float64(el.Nanoseconds()), "x_realtime")
}

var _ = os.ErrDeadlineExceeded
var _ = strings.Contains
