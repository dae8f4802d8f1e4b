package daemon

import (
	"context"
	"fmt"
	"net"
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
	const frames = 300 // 6 s of audio per call, paced at 2 ms per frame
	var mu sync.Mutex
	phones := map[string]*fakeCall{}
	d := &fakeDialer{make: func(req DialRequest) *fakeCall {
		m := &fakeMedia{pace: 2 * time.Millisecond}
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
	for i := int64(50); i <= frames; i += 50 { // an event every second of audio
		script[i] = []engine.Event{{Type: engine.EventMachineStoppedSpeaking, AtMs: i * 20, Message: strings.Repeat("m", 16<<10)}}
	}
	svc, err := NewService(ServiceConfig{
		ControlListen: "127.0.0.1:0",
		Manager: Config{
			MaxCalls: calls, MediaTimeout: 5 * time.Second, PollInterval: 5 * time.Millisecond,
			NewDetector: func(engine.Config) (Detector, error) { return &fakeDetector{script: script}, nil },
		},
		ControlQueue: 32,
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

	// The stalled client: subscribes to all calls with a tiny kernel
	// receive buffer and never reads again.
	dialer := websocket.Dialer{ReadBufferSize: 512, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, resp, err := dialer.Dial(svc.ControlURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer slow.Close()
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"subscribe","id":"s"}`)); err != nil {
		t.Fatal(err)
	}

	// Statuses echo the dial's metadata: 32 KiB each, plus 16 KiB detector
	// messages, make the stalled client's backlog outgrow its buffers.
	meta := map[string]string{}
	for k := 0; k < 32; k++ {
		meta[fmt.Sprintf("pad%02d", k)] = strings.Repeat("x", 1000)
	}
	// Read the subscription's ack — the last read this client ever does.
	_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, ack, err := slow.ReadMessage(); err != nil || !strings.Contains(string(ack), `"ack"`) {
		t.Fatalf("subscribe ack %s, %v", ack, err)
	}
	start := time.Now()
	for i := 0; i < calls; i++ {
		if _, err := svc.Manager().Dial(ctx, control.Dial{CallID: fmt.Sprintf("load-%02d", i), Target: "+15550100", Caller: "load", Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	// Hang up each call once its audio ran out, as an application would,
	// and wait for all of them to end.
	deadline := time.Now().Add(45 * time.Second)
	for len(svc.Manager().ActiveCalls()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still up after 45 s", len(svc.Manager().ActiveCalls()))
		}
		mu.Lock()
		for id, c := range phones {
			if c.media.Load().frames.Load() == 0 {
				_ = svc.Manager().Hangup(id)
			}
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	el := time.Since(start)
	reg := svc.Registry()
	if n := metricValue(t, reg, "amd_calls_ended_total", "end_reason", string(call.EndBotDisconnected)); n != calls {
		t.Errorf("Bot-disconnected ends = %v, want %d", n, calls)
	}
	if n := metricValue(t, reg, "amd_events_total", "event", string(engine.EventMachineStoppedSpeaking)); n != calls*frames/50 {
		t.Errorf("detector events = %v, want %d", n, calls*frames/50)
	}
	st := svc.Control().Stats()
	t.Logf("%d calls × %d frames in %v; control stats %+v", calls, frames, el.Round(time.Millisecond), st)
	if st.SlowConsumers != 1 {
		t.Fatalf("SlowConsumers = %d, want the stalled client dropped", st.SlowConsumers)
	}
	// Calls paced at 2 ms/frame take ~0.6 s of media each; the owners must
	// not have waited on the stalled client.
	if el > 20*time.Second {
		t.Errorf("calls took %v", el)
	}
}
