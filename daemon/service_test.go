package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// fakeDialerService gives a fakeDialer the user agent's lifetime methods.
type fakeDialerService struct{ *fakeDialer }

func (fakeDialerService) Start(context.Context) error { return nil }
func (fakeDialerService) Close() error                { return nil }
func (fakeDialerService) Addr() netip.AddrPort        { return netip.MustParseAddrPort("127.0.0.1:5060") }

// TestSlowConsumerDoesNotStallCalls runs many concurrent calls through the
// real service (control server, manager, owners) while one client
// subscribed to everything never reads: every call must still finish on
// time with its events, and the stalled client must be dropped.
func TestSlowConsumerDoesNotStallCalls(t *testing.T) {
	const calls = 40
	const frames = 300 // 6 s of audio per call, paced at 1 ms per frame
	var mu sync.Mutex
	phones := map[string]*fakeCall{}
	d := &fakeDialer{make: func(req DialRequest) *fakeCall {
		m := &fakeMedia{pace: time.Millisecond}
		m.frames.Store(frames)
		c := newFakeCall(m)
		c.progress <- Progress{Kind: ProgressRinging}
		c.progress <- Progress{Kind: ProgressAnswered}
		mu.Lock()
		phones[req.CallID] = c
		mu.Unlock()
		return c
	}}
	script := map[int64][]engine.Event{}
	for i := int64(10); i <= frames; i += 10 { // chatty detector: an event every 200 ms
		script[i] = []engine.Event{{Type: engine.EventMachineStoppedSpeaking, AtMs: i * 20}}
	}
	svc, err := NewService(ServiceConfig{
		ControlListen: "127.0.0.1:0",
		Manager: Config{
			MaxCalls: calls, MediaTimeout: 5 * time.Second, PollInterval: 5 * time.Millisecond,
			NewDetector: func(engine.Config) (Detector, error) { return &fakeDetector{script: script}, nil },
		},
		ControlQueue: 64,
		Log:          zerolog.Nop(),
		Dialer:       fakeDialerService{d},
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

	// The stalled client: subscribes to all calls with a tiny socket
	// buffer and never reads again.
	dialer := websocket.Dialer{ReadBufferSize: 512}
	slow, resp, err := dialer.Dial(svc.ControlURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"subscribe","id":"s"}`)); err != nil {
		t.Fatal(err)
	}

	good := connectClient(t, svc.ControlURL(), "")
	start := time.Now()
	// Statuses echo the dial's metadata: 32 KiB each makes the stalled
	// client's backlog outgrow any socket buffer.
	meta := map[string]string{}
	for k := 0; k < 32; k++ {
		meta[fmt.Sprintf("pad%02d", k)] = strings.Repeat("x", 1000)
	}
	ids := make([]string, calls)
	for i := range ids {
		ids[i] = dialCall(t, good, control.Dial{CallID: fmt.Sprintf("load-%02d", i), Target: "+15550100", Caller: "load", Metadata: meta})
	}
	finals := map[string]*control.CallStatus{}
	counts := map[string]int{}
	deadline := time.After(45 * time.Second)
	for len(finals) < calls {
		select {
		case in, ok := <-good.Events():
			if !ok {
				t.Fatalf("good client dropped: %v", good.Err())
			}
			counts[in.CallID]++
			if in.Status != nil && in.Status.Status.Final() {
				finals[in.CallID] = in.Status
				// The test hangs up each call after its audio ran out.
			}
		case <-time.After(100 * time.Millisecond):
			// Hang up calls whose audio is over, as an application would.
			mu.Lock()
			for id, c := range phones {
				if c.media.Load().frames.Load() == 0 && finals[id] == nil {
					_ = svc.Manager().Hangup(id)
				}
			}
			mu.Unlock()
		case <-deadline:
			t.Fatalf("%d of %d calls finished in 45 s", len(finals), calls)
		}
	}
	el := time.Since(start)
	for _, id := range ids {
		f := finals[id]
		if f.Status != call.StatusCompleted || f.EndReason != call.EndBotDisconnected {
			t.Errorf("%s final %+v", id, f)
		}
		// trying, ringing, answered, 30 detector events, amd_stopped, completed
		if counts[id] != 3+frames/10+2 {
			t.Errorf("%s: %d messages, want %d", id, counts[id], 3+frames/10+2)
		}
	}
	st := svc.Control().Stats()
	t.Logf("%d calls × %d frames in %v; control stats %+v", calls, frames, el.Round(time.Millisecond), st)
	if st.SlowConsumers != 1 {
		t.Fatalf("SlowConsumers = %d, want the stalled client dropped", st.SlowConsumers)
	}
	// Calls paced at 1 ms/frame take ~0.3 s of media each; the owners must
	// not have waited on the stalled client.
	if el > 20*time.Second {
		t.Errorf("calls took %v", el)
	}
}
