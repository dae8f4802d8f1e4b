package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// recorder is a Publisher that keeps every message per call.
type recorder struct {
	mu     sync.Mutex
	msgs   map[string][]any
	forgot map[string]bool
	notify chan struct{}
}

func newRecorder() *recorder {
	return &recorder{msgs: map[string][]any{}, forgot: map[string]bool{}, notify: make(chan struct{}, 1)}
}

func (r *recorder) Publish(id string, msg any) {
	r.mu.Lock()
	r.msgs[id] = append(r.msgs[id], msg)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) Forget(id string) {
	r.mu.Lock()
	r.forgot[id] = true
	r.mu.Unlock()
}

func (r *recorder) get(id string) []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.msgs[id]...)
}

// waitFinal waits for the call's final status and returns all its messages.
func (r *recorder) waitFinal(t *testing.T, id string, within time.Duration) []any {
	t.Helper()
	deadline := time.After(within)
	for {
		msgs := r.get(id)
		if n := len(msgs); n > 0 {
			if st, ok := msgs[n-1].(*control.CallStatus); ok && st.Status.Final() {
				return msgs
			}
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("call %s: no final status within %v; got %s", id, within, summary(msgs))
		}
	}
}

// waitFor waits until a message satisfying f was published for id.
func (r *recorder) waitFor(t *testing.T, id string, within time.Duration, f func(any) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, m := range r.get(id) {
			if f(m) {
				return
			}
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("call %s: awaited message never came; got %s", id, summary(r.get(id)))
		}
	}
}

// summary renders a call's messages as "trying ringing amd_human_detected completed/Caller-disconnected".
func summary(msgs []any) string {
	s := ""
	for i, m := range msgs {
		if i > 0 {
			s += " "
		}
		switch v := m.(type) {
		case *control.CallStatus:
			s += string(v.Status)
			if v.EndReason != "" {
				s += "/" + string(v.EndReason)
			}
		case *control.AMDEvent:
			s += string(v.Event.Type)
		default:
			s += fmt.Sprintf("%T", m)
		}
	}
	return s
}

// fakeDialer hands out scripted calls.
type fakeDialer struct {
	mu    sync.Mutex
	err   error
	calls map[string]*fakeCall
	make  func(req DialRequest) *fakeCall
}

func (d *fakeDialer) Dial(_ context.Context, req DialRequest) (Call, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	c := d.make(req)
	c.req = req
	if d.calls == nil {
		d.calls = map[string]*fakeCall{}
	}
	d.calls[req.CallID] = c
	return c, nil
}

func (d *fakeDialer) get(id string) *fakeCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

// fakeCall is a call whose signalling the test drives through progress.
type fakeCall struct {
	req      DialRequest
	progress chan Progress
	media    atomic.Pointer[fakeMedia]
	hangups  atomic.Int32
	closed   atomic.Bool
}

func newFakeCall(m *fakeMedia) *fakeCall {
	c := &fakeCall{progress: make(chan Progress, 16)}
	if m != nil {
		c.media.Store(m)
	}
	return c
}

func (c *fakeCall) Progress() <-chan Progress { return c.progress }
func (c *fakeCall) Media() Media {
	if m := c.media.Load(); m != nil {
		return m
	}
	return nil
}
func (c *fakeCall) Hangup(context.Context) error { c.hangups.Add(1); return nil }
func (c *fakeCall) Close() error                 { c.closed.Store(true); return nil }

// fakeMedia delivers frames at a fixed pace (0 = as fast as asked) until
// frames run out (then it stays silent: deadline errors), or fails with err.
type fakeMedia struct {
	samples []int16 // when set, frames are cut from it (then silence)
	pos     int
	frames  atomic.Int64 // frames left; <0 = unlimited
	pace    time.Duration
	err     error
	reads   atomic.Int64
	packets atomic.Uint64
}

func (m *fakeMedia) ReadFrame(pcm []int16, deadline time.Time) error {
	m.reads.Add(1)
	if m.err != nil {
		return m.err
	}
	if m.frames.Load() == 0 {
		if d := time.Until(deadline); d > 0 {
			time.Sleep(d)
		}
		return fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
	}
	if m.pace > 0 {
		time.Sleep(m.pace)
	}
	m.frames.Add(-1)
	m.packets.Add(1)
	clear(pcm[:160])
	if m.pos < len(m.samples) {
		m.pos += copy(pcm[:160], m.samples[m.pos:])
	}
	pcm[0] |= 1
	return nil
}

func (m *fakeMedia) Stats() MediaStats { return MediaStats{Packets: m.packets.Load(), Lost: 1} }

// fakeDetector emits scripted events after given numbers of frames, the
// way engine.Detector does: a decision, then amd_stopped when done.
type fakeDetector struct {
	script  map[int64][]engine.Event // frame count → events
	frames  int64
	done    bool
	doneAt  int64 // Done after this many frames (0 = never by itself)
	out     []engine.Event
	stopped atomic.Bool
}

func (d *fakeDetector) Process(frame []int16) []engine.Event {
	if len(frame) != 160 {
		panic("bad frame size")
	}
	d.frames++
	d.out = d.out[:0]
	d.out = append(d.out, d.script[d.frames]...)
	if d.doneAt > 0 && d.frames >= d.doneAt && !d.done {
		// as engine.Detector: the frame that ends detection carries amd_stopped
		d.done = true
		d.out = append(d.out, engine.Event{Type: engine.EventStopped, Reason: engine.ReasonCompleted, AtMs: d.frames * 20})
	}
	return d.out
}

func (d *fakeDetector) end(reason engine.Reason) []engine.Event {
	if d.done {
		return nil
	}
	d.done = true
	return []engine.Event{{Type: engine.EventStopped, Reason: reason, AtMs: d.frames * 20}}
}
func (d *fakeDetector) Finish() []engine.Event { return d.end(engine.ReasonStopped) }
func (d *fakeDetector) Stop() []engine.Event {
	d.stopped.Store(true)
	return d.end(engine.ReasonStopped)
}
func (d *fakeDetector) Fail(r engine.Reason, msg string) []engine.Event {
	if d.done {
		return nil
	}
	d.done = true
	return []engine.Event{{Type: engine.EventError, Reason: r, Message: msg, AtMs: d.frames * 20}, {Type: engine.EventStopped, Reason: engine.ReasonStopped}}
}
func (d *fakeDetector) Done() bool { return d.done }

func ev(t engine.EventType, r engine.Reason, atMs int64) engine.Event {
	return engine.Event{Type: t, Reason: r, AtMs: atMs}
}

var errBusy = &busyErr{}

type busyErr struct{}

func (*busyErr) Error() string      { return "sip: call failed: 486 Busy Here" }
func (*busyErr) Reason() string     { return "486 Busy Here" }
func (*busyErr) ReasonCode() string { return "Busy Here" }

var _ = errors.New
var _ = call.StatusTrying
