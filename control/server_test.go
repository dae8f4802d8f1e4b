package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/engine"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeEngine is a Handler that records commands and can publish during Dial
// (as the real daemon's call goroutine may).
type fakeEngine struct {
	srv      *Server
	mu       sync.Mutex
	calls    map[string]bool
	max      int
	hungUp   []string
	stopped  []string
	trunks   map[string]bool
	dialHook func(d Dial)
}

func (f *fakeEngine) Dial(ctx context.Context, d Dial) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Trunk != "" && !f.trunks[d.Trunk] {
		return "", fmt.Errorf("dial: %w", &FieldError{Field: "trunk", Message: "no trunk named " + d.Trunk})
	}
	if f.max > 0 && len(f.calls) >= f.max {
		return "", fmt.Errorf("dial: %d calls: %w", len(f.calls), ErrAtCapacity)
	}
	if f.calls[d.CallID] {
		return "", &FieldError{Field: "callId", Message: "exists"}
	}
	f.calls[d.CallID] = true
	if f.dialHook != nil {
		f.dialHook(d)
	}
	return d.CallID, nil
}

func (f *fakeEngine) Hangup(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.calls[id] {
		return fmt.Errorf("hangup %s: %w", id, ErrUnknownCall)
	}
	f.hungUp = append(f.hungUp, id)
	return nil
}

func (f *fakeEngine) StopAMD(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.calls[id] {
		return fmt.Errorf("amd.stop %s: %w", id, ErrUnknownCall)
	}
	f.stopped = append(f.stopped, id)
	return nil
}

type harness struct {
	eng *fakeEngine
	srv *Server
	hs  *httptest.Server
	url string
}

func newHarness(t *testing.T, opts ...ServerOption) *harness {
	t.Helper()
	eng := &fakeEngine{calls: map[string]bool{}, trunks: map[string]bool{"main": true}}
	srv := NewServer(eng, opts...)
	eng.srv = srv
	mux := http.NewServeMux()
	mux.Handle("/v1/control", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return &harness{eng: eng, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/control"}
}

func connect(t *testing.T, h *harness, token string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, h.url, token)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func status(id string, st call.Status) *CallStatus {
	return &CallStatus{Envelope: Envelope{V: Version, Type: TypeCallStatus}, CallID: id, Leg: call.LegSIP, Status: st}
}

func amd(id string, seq int, ev engine.EventType) *AMDEvent {
	return &AMDEvent{Envelope: Envelope{V: Version, Type: TypeAMDEvent}, CallID: id, Leg: call.LegSIP, Seq: seq, Event: engine.Event{Type: ev}}
}

func nextEvent(t *testing.T, c *Client) Incoming {
	t.Helper()
	select {
	case in, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return in
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Incoming{}
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialAckPrecedesEventsAndOrder(t *testing.T) {
	h := newHarness(t)
	// The fake publishes "trying" from inside Dial, before the ack exists:
	// the server must hold it until after the ack.
	h.eng.dialHook = func(d Dial) { h.srv.Publish(d.CallID, status(d.CallID, call.StatusTrying)) }
	c := connect(t, h, "")
	id, err := c.Dial(tctx(t), Dial{Target: "sip:bob@127.0.0.1", Caller: "amd"})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if id == "" {
		t.Fatal("empty call id")
	}
	h.srv.Publish(id, status(id, call.StatusRinging))
	h.srv.Publish(id, status(id, call.StatusAnswered))
	for seq, ev := range []engine.EventType{engine.EventMachineDetected, engine.EventToneDetected, engine.EventStopped} {
		h.srv.Publish(id, amd(id, seq+1, ev))
	}
	h.srv.Publish("someone-else", status("someone-else", call.StatusTrying)) // not ours
	h.srv.Publish(id, status(id, call.StatusCompleted))

	want := []string{"trying", "ringing", "answered", "amd_machine_detected", "amd_tone_detected", "amd_stopped", "completed"}
	for i, w := range want {
		in := nextEvent(t, c)
		if in.CallID != id {
			t.Fatalf("event %d for call %q, want %q", i, in.CallID, id)
		}
		got := ""
		switch {
		case in.Status != nil:
			got = string(in.Status.Status)
		case in.AMD != nil:
			got = string(in.AMD.Event.Type)
			if in.AMD.Seq != i-2 {
				t.Errorf("%s seq %d, want %d", got, in.AMD.Seq, i-2)
			}
		}
		if got != w {
			t.Fatalf("event %d = %q, want %q", i, got, w)
		}
		if len(in.Raw) == 0 {
			t.Errorf("event %d has no raw JSON", i)
		}
	}
}

func TestClientCommandErrors(t *testing.T) {
	h := newHarness(t)
	h.eng.max = 1
	c := connect(t, h, "")
	ctx := tctx(t)
	first, err := c.Dial(ctx, Dial{CallID: "fixed-1", Target: "+15550100", Caller: "x"})
	if err != nil || first != "fixed-1" {
		t.Fatalf("dial = %q, %v; want fixed-1", first, err)
	}
	tests := []struct {
		name     string
		do       func() error
		sentinel error
		code     string
		field    string
	}{
		{"invalid target", func() error { _, err := c.Dial(ctx, Dial{Target: "nope", Caller: "x"}); return err }, ErrInvalidField, CodeInvalidField, "target"},
		{"unknown trunk", func() error {
			_, err := c.Dial(ctx, Dial{Target: "+1", Caller: "x", Trunk: "other"})
			return err
		}, ErrInvalidField, CodeInvalidField, "trunk"},
		{"at capacity", func() error { _, err := c.Dial(ctx, Dial{Target: "+1", Caller: "x"}); return err }, ErrAtCapacity, CodeAtCapacity, ""},
		{"hangup unknown", func() error { return c.Hangup(ctx, "ghost") }, ErrUnknownCall, CodeUnknownCall, ""},
		{"stop unknown", func() error { return c.StopAMD(ctx, "ghost") }, ErrUnknownCall, CodeUnknownCall, ""},
		{"hangup empty", func() error { return c.Hangup(ctx, "") }, ErrInvalidField, CodeInvalidField, "callId"},
		{"webrtc unsupported", func() error {
			_, err := c.WebRTCOffer(ctx, WebRTCOffer{SDP: "v=0\r\n"})
			return err
		}, ErrUnsupported, CodeUnsupported, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("err = %v, want %v", err, tc.sentinel)
			}
			var ce *CommandError
			if !errors.As(err, &ce) || ce.Code != tc.code || ce.Field != tc.field {
				t.Fatalf("err = %#v, want code %s field %q", err, tc.code, tc.field)
			}
		})
	}
	if err := c.Hangup(ctx, "fixed-1"); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	if err := c.StopAMD(ctx, "fixed-1"); err != nil {
		t.Fatalf("amd.stop: %v", err)
	}
	h.eng.mu.Lock()
	defer h.eng.mu.Unlock()
	if len(h.eng.hungUp) != 1 || h.eng.hungUp[0] != "fixed-1" || len(h.eng.stopped) != 1 {
		t.Fatalf("engine saw hangups %v stops %v", h.eng.hungUp, h.eng.stopped)
	}
}

// rawConn is a bare WebSocket for sending what the Client never would.
func rawConn(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestBadInputKeepsConnection(t *testing.T) {
	h := newHarness(t)
	ws := rawConn(t, h.url, nil)
	tests := []struct {
		name  string
		typ   int
		in    string
		code  string
		field string
		id    string
	}{
		{"not json", websocket.TextMessage, "hello there", CodeBadMessage, "", ""},
		{"binary", websocket.BinaryMessage, "\x00\x01", CodeBadMessage, "", ""},
		{"unknown type", websocket.TextMessage, `{"v":1,"type":"explode","id":"a"}`, CodeBadMessage, "type", "a"},
		{"wrong version", websocket.TextMessage, `{"v":9,"type":"ping","id":"b"}`, CodeBadMessage, "v", "b"},
		{"bad field", websocket.TextMessage, `{"v":1,"type":"dial","id":"c","target":"sip:x@y","caller":"a","timers":{"noSpeechTimeoutMs":-1}}`, CodeInvalidField, "timers.noSpeechTimeoutMs", "c"},
		{"missing target", websocket.TextMessage, `{"v":1,"type":"dial","id":"d","caller":"a"}`, CodeInvalidField, "target", "d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ws.WriteMessage(tc.typ, []byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, data, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("connection dropped: %v", err)
			}
			msg, _, err := DecodeServerMessage(data)
			if err != nil {
				t.Fatalf("reply %s: %v", data, err)
			}
			e, ok := msg.(*Error)
			if !ok || e.Code != tc.code || e.Field != tc.field || e.ID != tc.id || e.Message == "" {
				t.Fatalf("reply %s, want code %s field %q id %q", data, tc.code, tc.field, tc.id)
			}
		})
	}
	// Still up: a ping is answered.
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"ping","id":"alive"}`)); err != nil {
		t.Fatal(err)
	}
	_, data, err := ws.ReadMessage()
	if err != nil || !strings.Contains(string(data), `"pong"`) || !strings.Contains(string(data), `"alive"`) {
		t.Fatalf("ping reply %s, %v", data, err)
	}
	if got := h.srv.Stats().BadMessages; got != int64(len(tests)) {
		t.Errorf("BadMessages = %d, want %d", got, len(tests))
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, WithToken("s3cret"))
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"no token", "", false},
		{"wrong token", "guess", false},
		{"right token", "s3cret", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(tctx(t), h.url, tc.token)
			if tc.ok {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer c.Close()
				if _, err := c.Ping(tctx(t)); err != nil {
					t.Fatalf("ping: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
	// A plain HTTP request gets a 401 with a JSON error body.
	resp, err := http.Get(h.hs.URL + "/v1/control")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if got := h.srv.Stats().Unauthorized; got != 3 {
		t.Errorf("Unauthorized = %d, want 3", got)
	}
}

func TestSubscriptionRouting(t *testing.T) {
	h := newHarness(t)
	dialer := connect(t, h, "")
	one := connect(t, h, "")
	all := connect(t, h, "")
	none := connect(t, h, "")
	ctx := tctx(t)
	a, err := dialer.Dial(ctx, Dial{CallID: "call-a", Target: "+1", Caller: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Subscribe(ctx, "call-b"); err != nil {
		t.Fatal(err)
	}
	if err := all.Subscribe(ctx, ""); err != nil {
		t.Fatal(err)
	}
	h.srv.Publish(a, status(a, call.StatusTrying))
	h.srv.Publish("call-b", status("call-b", call.StatusTrying))
	h.srv.Publish("call-c", status("call-c", call.StatusTrying))
	// A marker after everything proves nothing else is queued for each.
	for _, c := range []*Client{dialer, one, all, none} {
		_ = c
	}
	h.srv.Publish("marker", status("marker", call.StatusTrying))
	if err := dialer.Subscribe(ctx, "marker"); err != nil {
		t.Fatal(err)
	}
	if err := one.Subscribe(ctx, "marker"); err != nil {
		t.Fatal(err)
	}
	if err := none.Subscribe(ctx, "marker"); err != nil {
		t.Fatal(err)
	}
	h.srv.Publish("marker", status("marker", call.StatusRinging))

	expect := map[*Client][]string{
		dialer: {"call-a", "marker"},
		one:    {"call-b", "marker"},
		all:    {"call-a", "call-b", "call-c", "marker", "marker"},
		none:   {"marker"},
	}
	for c, want := range expect {
		for i, w := range want {
			if got := nextEvent(t, c).CallID; got != w {
				t.Fatalf("event %d for call %q, want %q (want %v)", i, got, w, want)
			}
		}
	}
	h.srv.Forget("call-b")
	h.srv.Publish("call-b", status("call-b", call.StatusCompleted))
	h.srv.Publish("marker", status("marker", call.StatusAnswered))
	if got := nextEvent(t, one).CallID; got != "marker" {
		t.Fatalf("after Forget got event of %q, want marker", got)
	}
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	h := newHarness(t, WithQueueSize(8))
	slow := rawConn(t, h.url, nil) // never reads
	fast := connect(t, h, "")
	ctx := tctx(t)
	if err := slow.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"subscribe","id":"s"}`)); err != nil {
		t.Fatal(err)
	}
	if err := fast.Subscribe(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// Wait until the slow subscription is routed: its ack is queued once the
	// server handled it; Stats cannot tell, so poll Publish fan-out instead.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.srv.mu.Lock()
		n := len(h.srv.all)
		h.srv.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriptions not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A big payload fills the socket buffers quickly, then the queue.
	big := status("flood", call.StatusTrying)
	big.Metadata = map[string]string{"pad": strings.Repeat("p", 32<<10)}
	const n = 4000
	// Lock-step: the fast client reads each event before the next is
	// published, so only the slow one can fall behind.
	var worst time.Duration
	for i := 0; i < n && h.srv.Stats().SlowConsumers == 0; i++ {
		t0 := time.Now()
		h.srv.Publish("flood", big)
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if in := nextEvent(t, fast); in.CallID != "flood" {
			t.Fatalf("fast got %q", in.CallID)
		}
	}
	if worst > 100*time.Millisecond {
		t.Fatalf("one Publish took %v: the slow consumer stalled the publisher", worst)
	}
	if got := h.srv.Stats().SlowConsumers; got != 1 {
		t.Fatalf("SlowConsumers = %d, want 1", got)
	}
	// The slow client, once it reads, sees its queue then the close reason.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != CloseReasonSlowConsumer {
			t.Fatalf("slow consumer read error %v, want close %d %q", err, websocket.ClosePolicyViolation, CloseReasonSlowConsumer)
		}
		break
	}
	if _, err := fast.Ping(tctx(t)); err != nil {
		t.Fatalf("fast client hurt: %v", err)
	}
}

func TestClientSeesSlowConsumerError(t *testing.T) {
	h := newHarness(t, WithQueueSize(4))
	ctx := tctx(t)
	c, err := Connect(ctx, h.url, "", WithEventBuffer(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(ctx, ""); err != nil {
		t.Fatal(err)
	}
	big := status("flood", call.StatusTrying)
	big.Metadata = map[string]string{"pad": strings.Repeat("p", 32<<10)}
	for i := 0; i < 500 && h.srv.Stats().SlowConsumers == 0; i++ {
		h.srv.Publish("flood", big)
	}
	if h.srv.Stats().SlowConsumers != 1 {
		t.Fatal("client never became a slow consumer")
	}
	// Drain: the events channel closes and Err names the cause.
	timeout := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-c.Events():
		case <-timeout:
			t.Fatal("events never closed")
		}
	}
	if !errors.Is(c.Err(), ErrSlowConsumer) {
		t.Fatalf("Err = %v, want ErrSlowConsumer", c.Err())
	}
	if _, err := c.Dial(ctx, Dial{Target: "+1", Caller: "x"}); err == nil {
		t.Fatal("dial on a dropped connection succeeded")
	}
}

func TestServerCloseDisconnectsClients(t *testing.T) {
	h := newHarness(t)
	c := connect(t, h, "")
	if _, err := c.Ping(tctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := h.srv.Stats().Connections; got != 1 {
		t.Fatalf("Connections = %d, want 1", got)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client not disconnected by server Close")
	}
	if !errors.Is(c.Err(), ErrClosed) || !strings.Contains(c.Err().Error(), CloseReasonShutdown) {
		t.Fatalf("Err = %v, want ErrClosed with the shutdown reason", c.Err())
	}
	if got := h.srv.Stats().Connections; got != 0 {
		t.Fatalf("Connections = %d after Close", got)
	}
	// New upgrades are refused.
	if _, err := Connect(tctx(t), h.url, ""); err == nil {
		t.Fatal("connect after Close succeeded")
	}
}

func TestClientCloseUnblocksCommands(t *testing.T) {
	h := newHarness(t)
	c := connect(t, h, "")
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := c.Dial(tctx(t), Dial{Target: "+1", Caller: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// BenchmarkPublish measures the cost of one event fanned out to one
// subscriber: it runs on the call's owner goroutine, so it must stay small.
func BenchmarkPublish(b *testing.B) {
	eng := &fakeEngine{calls: map[string]bool{}}
	srv := NewServer(eng, WithQueueSize(1<<20))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	c, err := Connect(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), "", WithEventBuffer(1<<16))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(context.Background(), ""); err != nil {
		b.Fatal(err)
	}
	go func() {
		for range c.Events() {
		}
	}()
	ev := amd("bench", 1, engine.EventHumanDetected)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := ev
		h.Seq = i
		srv.Publish("bench", h)
	}
}

func TestConcurrentDialsOnOneClient(t *testing.T) {
	h := newHarness(t)
	c := connect(t, h, "")
	const n = 50
	ids := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := c.Dial(tctx(t), Dial{CallID: fmt.Sprintf("par-%02d", i), Target: "+1555", Caller: "x"})
			if err != nil {
				errs <- err
				return
			}
			if id != fmt.Sprintf("par-%02d", i) {
				errs <- fmt.Errorf("dial %d got id %s: replies crossed", i, id)
				return
			}
			ids <- id
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(ids) != n {
		t.Fatalf("%d dials acknowledged, want %d", len(ids), n)
	}
}

// TestDeadPeerIsDropped: a client that neither reads nor answers pings is
// disconnected after two ping intervals, so its slot and routes are freed.
func TestDeadPeerIsDropped(t *testing.T) {
	h := newHarness(t, WithPingInterval(50*time.Millisecond))
	ws := rawConn(t, h.url, nil)
	// Never read: gorilla answers pings only from inside a read.
	_ = ws
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("dead peer still connected after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A live client (the Client reads, so it answers pings) stays up.
	c := connect(t, h, "")
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Ping(tctx(t)); err != nil {
		t.Fatalf("live client dropped: %v", err)
	}
}

func TestOversizedMessageClosesConnection(t *testing.T) {
	h := newHarness(t)
	ws := rawConn(t, h.url, nil)
	big := `{"v":1,"type":"ping","id":"` + strings.Repeat("x", MaxMessageBytes) + `"}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("read after oversized message: %v, want close 1009", err)
	}
}

// TestClientGivesUpOnSilentServer: a server that accepts the upgrade and
// then says nothing (no messages, no pings) is dropped by the client's
// idle timeout instead of hanging it forever.
func TestClientGivesUpOnSilentServer(t *testing.T) {
	up := websocket.Upgrader{}
	var mu sync.Mutex
	var conns []*websocket.Conn
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, ws) // held open, never written
		mu.Unlock()
	}))
	defer hs.Close()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	c, err := Connect(tctx(t), "ws"+strings.TrimPrefix(hs.URL, "http"), "", WithIdleTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still waiting on a silent server")
	}
	if c.Err() == nil {
		t.Fatal("Err is nil after the idle timeout")
	}
	// A server that pings keeps the client alive past the idle timeout.
	h := newHarness(t, WithPingInterval(50*time.Millisecond))
	live, err := Connect(tctx(t), h.url, "", WithIdleTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	time.Sleep(600 * time.Millisecond)
	if _, err := live.Ping(tctx(t)); err != nil {
		t.Fatalf("pinged client dropped: %v", err)
	}
}
