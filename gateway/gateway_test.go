package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/notify"
	"github.com/amd-engine/amd/gateway/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testJWTSecret  = "test-jwt-secret"
	testSignSecret = "test-signing-secret"
)

// sink is a notification receiver: it verifies each signature and keeps
// what arrived.
type sink struct {
	mu   sync.Mutex
	got  []gotNote
	code func(n gotNote) int
	srv  *httptest.Server
}

type gotNote struct {
	Key     string
	Header  http.Header
	Body    map[string]any
	Raw     string
	SigErr  error
	Arrived time.Time
	status  int // what the sink answered
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	n := gotNote{Key: r.Header.Get(notify.IdempotencyHeader), Header: r.Header.Clone(), Raw: string(raw), Arrived: time.Now()}
	n.SigErr = notify.Verify([]byte(testSignSecret), r.Header.Get(notify.SignatureHeader), raw, time.Now(), notify.DefaultTolerance)
	_ = json.Unmarshal(raw, &n.Body)
	s.mu.Lock()
	code := s.code
	s.mu.Unlock()
	n.status = http.StatusOK
	if code != nil {
		n.status = code(n)
	}
	s.mu.Lock()
	s.got = append(s.got, n)
	s.mu.Unlock()
	w.WriteHeader(n.status)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func (s *sink) forCall(id string) []gotNote {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gotNote
	for _, n := range s.got {
		if n.Body["conversationId"] == id {
			out = append(out, n)
		}
	}
	return out
}

// statuses lists "status" or "status/amd_event" per notification.
func statuses(notes []gotNote) []string {
	var out []string
	for _, n := range notes {
		s, _ := n.Body["status"].(string)
		if md, ok := n.Body["machineDetection"].(map[string]any); ok && s == NotifyInProgress {
			s += "/" + fmt.Sprint(md["event"])
		}
		out = append(out, s)
	}
	return out
}

type harness struct {
	t        *testing.T
	gw       *Gateway
	st       *store.SQLite
	api      *httptest.Server
	token    string
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func testConfig(engines ...string) Config {
	return Config{
		Listen: "127.0.0.1:0", Engines: engines, JWTSecret: testJWTSecret, SigningSecret: testSignSecret,
		EngineLossTimeout: 2 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		ResolveInterval: 50 * time.Millisecond,
		Notify:          NotifyConfig{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, AttemptTimeout: 2 * time.Second},
	}
}

func startGateway(t *testing.T, cfg Config, dbPath string) *harness {
	t.Helper()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "gw.db")
	}
	cfg.DB = dbPath
	st, err := store.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, gw: gw, st: st, api: httptest.NewServer(gw.Handler()), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = gw.Run(ctx) }()
	h.token, _ = auth.Mint([]byte(testJWTSecret), "app-1", time.Hour, time.Now())
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.stopOnce.Do(h.doStop)
}

func (h *harness) doStop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		h.t.Error("gateway did not stop")
	}
	h.api.Close()
	h.st.Close()
}

// waitEngines waits until n engine links are up.
func (h *harness) waitEngines(n int) {
	h.t.Helper()
	waitUntil(h.t, "engine links up", 5*time.Second, func() bool { return h.gw.pool.up() == n })
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) do(method, path, token string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.api.URL+path, rd)
	if token != "" {
		req.Header.Set("auth", token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (h *harness) dialout(body map[string]any) (int, map[string]any) {
	return h.do("POST", "/api/1.1/public/bot/bot-1/smartassist/dialout", h.token, body)
}

func dialBody(target, notifyURL string) map[string]any {
	return map[string]any{
		"target": target, "caller": "+15550001", "notifyurl": notifyURL,
		"notifyHeaders": map[string]string{"X-Tenant": "acme"}, "metadata": map[string]any{"campaign": "c1", "n": 3},
		"machineDetection": "detect",
	}
}

func TestDialoutHumanNotificationsInOrder(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	code, res := h.dialout(dialBody("sip:human@127.0.0.1:5070", snk.srv.URL))
	if code != 200 {
		t.Fatalf("dialout: %d %v", code, res)
	}
	id, _ := res["callId"].(string)
	if id == "" || res["sid"] == "" {
		t.Fatalf("reply %v", res)
	}
	waitUntil(t, "4 notifications", 10*time.Second, func() bool { return len(snk.forCall(id)) >= 4 })
	notes := snk.forCall(id)
	want := "[Answered Call-In-Progress/amd_human_detected Call-In-Progress/amd_stopped completed]"
	if got := fmt.Sprint(statuses(notes)); got != want {
		t.Fatalf("statuses %s, want %s", got, want)
	}
	keys := map[string]bool{}
	for _, n := range notes {
		if n.SigErr != nil {
			t.Fatalf("signature: %v", n.SigErr)
		}
		if n.Header.Get("X-Tenant") != "acme" || n.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers: %v", n.Header)
		}
		if keys[n.Key] || n.Key == "" {
			t.Fatalf("idempotency key %q reused or empty", n.Key)
		}
		keys[n.Key] = true
		if n.Body["conversationId"] != id || n.Body["target"] != "sip:human@127.0.0.1:5070" {
			t.Fatalf("body: %s", n.Raw)
		}
	}
	ans, done := notes[0].Body, notes[3].Body
	if ans["ringDurationInMS"].(float64) != 2000 || ans["callConnectTime"] == "" {
		t.Fatalf("Answered body: %s", notes[0].Raw)
	}
	md := notes[1].Body["machineDetection"].(map[string]any)
	if md["reason"] != "short_greeting" || md["atMs"].(float64) != 1800 || md["wordCount"].(float64) != 2 {
		t.Fatalf("machineDetection evidence: %v", md)
	}
	if done["callDuration"].(float64) != 5 || done["callDisconnectTime"] == "" || done["endReason"] != "Caller-disconnected" {
		t.Fatalf("completed body: %s", notes[3].Raw)
	}
	if fd := done["machineDetection"].(map[string]any); fd["event"] != "amd_human_detected" {
		t.Fatalf("final machineDetection: %v", fd)
	}
	if m := done["metadata"].(map[string]any); m["campaign"] != "c1" || m["n"].(float64) != 3 {
		t.Fatalf("metadata: %v", m)
	}
	// The engine got the request's fields.
	d := eng.dialed()[0]
	if d.CallID != id || d.Caller != "+15550001" || d.Metadata["campaign"] != "c1" || d.Metadata["n"] != "3" || d.Timers.DecisionTimeoutMs == 0 {
		t.Fatalf("engine dial: %+v", d)
	}
	// The interaction record.
	waitUntil(t, "all delivered", 5*time.Second, func() bool {
		code, it := h.do("GET", "/api/1.1/public/bot/bot-1/interactions/"+id, h.token, nil)
		if code != 200 {
			return false
		}
		for _, n := range it["notifications"].([]any) {
			if n.(map[string]any)["state"] != "delivered" {
				return false
			}
		}
		return true
	})
	_, it := h.do("GET", "/api/1.1/public/bot/bot-1/interactions/"+id, h.token, nil)
	amdInfo := it["amdInfo"].(map[string]any)
	if it["status"] != "completed" || amdInfo["amdReason"] != "short_greeting" || len(amdInfo["amdEvents"].([]any)) != 2 ||
		amdInfo["amdRingDurationInMs"].(float64) != 2000 || amdInfo["amdConnectDurationInMs"].(float64) != 1800 {
		t.Fatalf("interaction: %v", it)
	}
	if it["notifyHeaders"].(map[string]any)["X-Tenant"] != "***" {
		t.Fatalf("notifyHeaders not redacted: %v", it["notifyHeaders"])
	}
}

func TestDialoutOutcomes(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	tests := []struct {
		name       string
		target     string
		mut        func(b map[string]any)
		want       string
		wantStatus string
		check      func(t *testing.T, notes []gotNote)
	}{
		{name: "busy", target: "sip:busy@example.com", want: "[Failed]", wantStatus: store.StatusFailed,
			check: func(t *testing.T, notes []gotNote) {
				b := notes[0].Body
				if b["reason"] != "486 Busy Here" || b["reasonCode"] != "Busy Here" || b["ringDurationInMS"].(float64) != 1200 {
					t.Fatalf("Failed body: %s", notes[0].Raw)
				}
			}},
		{name: "no AMD subscription", target: "tel:+15551234", mut: func(b map[string]any) { b["amdEventsSubscription"] = []string{} },
			want: "[Answered completed]", wantStatus: store.StatusCompleted,
			check: func(t *testing.T, notes []gotNote) {
				if _, ok := notes[1].Body["machineDetection"]; ok {
					t.Fatalf("machineDetection sent without subscription: %s", notes[1].Raw)
				}
			}},
		{name: "subset subscription", target: "sip:human@example.com", mut: func(b map[string]any) { b["amdEventsSubscription"] = []string{"amd_stopped"} },
			want: "[Answered Call-In-Progress/amd_stopped completed]", wantStatus: store.StatusCompleted},
		{name: "machine disconnect", target: "sip:machine@example.com", mut: func(b map[string]any) { b["machineDetection"] = "disconnect" },
			want: "[Answered Call-In-Progress/amd_machine_detected completed]", wantStatus: store.StatusMachineDetected,
			check: func(t *testing.T, notes []gotNote) {
				if notes[2].Body["endReason"] != "machineDetected" {
					t.Fatalf("completed: %s", notes[2].Raw)
				}
			}},
		{name: "notifyUrl spelling", target: "sip:human@example.com", mut: func(b map[string]any) {
			b["notifyUrl"] = b["notifyurl"]
			delete(b, "notifyurl")
		}, want: "[Answered Call-In-Progress/amd_human_detected Call-In-Progress/amd_stopped completed]", wantStatus: store.StatusCompleted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := dialBody(tc.target, snk.srv.URL)
			if tc.mut != nil {
				tc.mut(b)
			}
			code, res := h.dialout(b)
			if code != 200 {
				t.Fatalf("dialout %d %v", code, res)
			}
			id := res["callId"].(string)
			n := strings.Count(tc.want, " ") + 1
			waitUntil(t, tc.want, 10*time.Second, func() bool { return len(snk.forCall(id)) >= n })
			time.Sleep(50 * time.Millisecond) // nothing more may come
			notes := snk.forCall(id)
			if got := fmt.Sprint(statuses(notes)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, notes)
			}
			c, err := h.st.GetCall(context.Background(), id)
			if err != nil || c.Status != tc.wantStatus {
				t.Fatalf("record status %v %v, want %s", c, err, tc.wantStatus)
			}
		})
	}
}

func TestDialoutRejects(t *testing.T) {
	eng := newFakeEngine(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	expired, _ := auth.Mint([]byte(testJWTSecret), "a", time.Minute, time.Now().Add(-time.Hour))
	wrongKey, _ := auth.Mint([]byte("another-secret"), "a", time.Hour, time.Now())
	good := `{"target":"sip:a@b.c","caller":"1"}`
	tests := []struct {
		name, token, body string
		code              int
		field             string
	}{
		{"no token", "", good, 401, ""},
		{"expired token", expired, good, 401, ""},
		{"wrong key", wrongKey, good, 401, ""},
		{"garbage token", "abc.def.ghi", good, 401, ""},
		{"bad JSON", h.token, `{"target":`, 400, ""},
		{"not an object", h.token, `[1,2]`, 400, ""},
		{"missing target", h.token, `{"caller":"1"}`, 400, "target"},
		{"bad target", h.token, `{"target":"http://x","caller":"1"}`, 400, "target"},
		{"missing caller", h.token, `{"target":"sip:a@b.c"}`, 400, "caller"},
		{"timeoutInMs string", h.token, `{"target":"sip:a@b.c","caller":"1","timeoutInMs":"abc"}`, 400, "timeoutInMs"},
		{"timers wrong type", h.token, `{"target":"sip:a@b.c","caller":"1","timers":{"decisionTimeoutMs":true}}`, 400, "timers.decisionTimeoutMs"},
		{"unknown field", h.token, `{"target":"sip:a@b.c","caller":"1","colour":"red"}`, 400, "colour"},
		{"unknown AMD event", h.token, `{"target":"sip:a@b.c","caller":"1","amdEventsSubscription":["amd_bogus"]}`, 400, "amdEventsSubscription"},
		{"bad machineDetection", h.token, `{"target":"sip:a@b.c","caller":"1","machineDetection":"maybe"}`, 400, "machineDetection"},
		{"notifyurl not http", h.token, `{"target":"sip:a@b.c","caller":"1","notifyurl":"ftp://x"}`, 400, "notifyurl"},
		{"reserved notify header", h.token, `{"target":"sip:a@b.c","caller":"1","notifyHeaders":{"SAVG-Signature":"x"}}`, 400, "notifyHeaders.SAVG-Signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, res := h.do("POST", "/api/1.1/public/bot/b/smartassist/dialout", tc.token, tc.body)
			if code != tc.code {
				t.Fatalf("status %d, want %d (%v)", code, tc.code, res)
			}
			if res["message"] == nil || res["message"] == "" || res["error"] == nil {
				t.Fatalf("error body without message: %v", res)
			}
			if tc.field != "" && res["field"] != tc.field {
				t.Fatalf("field %v, want %s (%v)", res["field"], tc.field, res)
			}
		})
	}
	if n := len(eng.dialed()); n != 0 {
		t.Fatalf("%d rejected requests reached the engine", n)
	}
}

func TestNoEngine503(t *testing.T) {
	eng := newFakeEngine(t)
	eng.stop()
	h := startGateway(t, testConfig(eng.url()), "")
	code, res := h.dialout(dialBody("sip:human@x.y", ""))
	if code != http.StatusServiceUnavailable || res["error"] != CodeNoEngine {
		t.Fatalf("no engine: %d %v", code, res)
	}
}

func TestRoundRobinAndCapacityFailover(t *testing.T) {
	e1, e2 := newFakeEngine(t), newFakeEngine(t)
	h := startGateway(t, testConfig(e1.url(), e2.url()), "")
	h.waitEngines(2)
	for range 4 {
		if code, res := h.dialout(dialBody("sip:human@x.y", "")); code != 200 {
			t.Fatalf("dialout %d %v", code, res)
		}
	}
	if len(e1.dialed()) != 2 || len(e2.dialed()) != 2 {
		t.Fatalf("round robin: %d/%d", len(e1.dialed()), len(e2.dialed()))
	}
	e1.mu.Lock()
	e1.refuse = &control.CommandError{Code: control.CodeAtCapacity, Message: "full"}
	e1.mu.Unlock()
	for range 2 {
		code, res := h.dialout(dialBody("sip:human@x.y", ""))
		if code != 200 {
			t.Fatalf("failover dialout %d %v", code, res)
		}
		c, _ := h.st.GetCall(context.Background(), res["callId"].(string))
		if c.EngineURL != e2.url() {
			t.Fatalf("call recorded on %s, want %s", c.EngineURL, e2.url())
		}
	}
	e2.mu.Lock()
	e2.refuse = &control.CommandError{Code: control.CodeAtCapacity, Message: "full"}
	e2.mu.Unlock()
	if code, res := h.dialout(dialBody("sip:human@x.y", "")); code != 503 {
		t.Fatalf("all at capacity: %d %v", code, res)
	}
	e2.mu.Lock()
	e2.refuse = &control.FieldError{Field: "trunk", Message: "no such trunk"}
	e2.mu.Unlock()
	e1.mu.Lock()
	e1.refuse = &control.FieldError{Field: "trunk", Message: "no such trunk"}
	e1.mu.Unlock()
	if code, res := h.dialout(dialBody("sip:human@x.y", "")); code != 400 || res["field"] != "trunk" {
		t.Fatalf("engine invalid_field: %d %v", code, res)
	}
}

// TestEngineLostCallFailed: a silent call whose engine disappears is marked
// Failed with amd_error after the loss timeout, never left hanging.
func TestEngineLostCallFailed(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	cfg := testConfig(eng.url())
	cfg.EngineLossTimeout = 300 * time.Millisecond
	h := startGateway(t, cfg, "")
	h.waitEngines(1)
	code, res := h.dialout(dialBody("sip:silent@x.y", snk.srv.URL))
	if code != 200 {
		t.Fatalf("dialout %d %v", code, res)
	}
	id := res["callId"].(string)
	waitUntil(t, "Answered", 5*time.Second, func() bool { return len(snk.forCall(id)) == 1 })
	eng.stop()
	waitUntil(t, "resolution", 10*time.Second, func() bool { return len(snk.forCall(id)) >= 3 })
	notes := snk.forCall(id)
	if got := fmt.Sprint(statuses(notes)); got != "[Answered Call-In-Progress/amd_error Failed]" {
		t.Fatalf("after loss: %s", got)
	}
	if notes[2].Body["reason"] != ReasonEngineLost {
		t.Fatalf("Failed body: %s", notes[2].Raw)
	}
	c, _ := h.st.GetCall(context.Background(), id)
	if c.Status != store.StatusFailed {
		t.Fatalf("record: %+v", c)
	}
}

// TestEngineBackResolvesCall: the link drops while a call rings; the engine
// comes back before the loss timeout and the call's events resume.
func TestEngineBackResolvesCall(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	cfg := testConfig(eng.url())
	cfg.EngineLossTimeout = 5 * time.Second
	h := startGateway(t, cfg, "")
	h.waitEngines(1)
	code, res := h.dialout(dialBody("sip:slow@x.y", snk.srv.URL))
	if code != 200 {
		t.Fatalf("dialout %d %v", code, res)
	}
	id := res["callId"].(string)
	// Drop every control connection but keep the "calls" running: close
	// the server's connections only, then serve again on the same port.
	eng.mu.Lock()
	srv := eng.srv
	eng.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	srv.Close() // connections gone; the call's publisher keeps running
	eng.mu.Lock()
	hs := eng.hs
	eng.mu.Unlock()
	hs.Close()
	waitUntil(t, "link down", 5*time.Second, func() bool { return h.gw.pool.up() == 0 })
	eng.mu.Lock()
	eng.srv, eng.hs = nil, nil
	eng.mu.Unlock()
	eng.restart()
	waitUntil(t, "completed", 10*time.Second, func() bool { return len(snk.forCall(id)) >= 2 })
	if got := fmt.Sprint(statuses(snk.forCall(id))); got != "[Answered completed]" {
		t.Fatalf("after reconnect: %s", got)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	eng := newFakeEngine(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	code, body := h.do("GET", "/healthz", "", nil)
	if code != 200 || body["enginesUp"].(float64) != 1 {
		t.Fatalf("healthz %d %v", code, body)
	}
	resp, err := http.Get(h.api.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"amdgw_engines_up 1", "amdgw_notifications_pending 0", "amdgw_dialouts_total", "amdgw_notification_attempts_total"} {
		if !strings.Contains(string(raw), m) {
			t.Fatalf("metrics lack %q", m)
		}
	}
}

func TestInteractionsListFiltersAndAuth(t *testing.T) {
	eng := newFakeEngine(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	ids := map[string]bool{}
	for _, target := range []string{"sip:busy@x.y", "sip:human@x.y", "sip:busy@x.y"} {
		_, res := h.dialout(dialBody(target, ""))
		ids[res["callId"].(string)] = true
	}
	waitUntil(t, "calls final", 5*time.Second, func() bool {
		open, _ := h.st.OpenCalls(context.Background())
		return len(open) == 0
	})
	if code, _ := h.do("GET", "/api/1.1/public/bot/bot-1/interactions", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	code, res := h.do("GET", "/api/1.1/public/bot/bot-1/interactions?status=Failed&limit=1", h.token, nil)
	if code != 200 {
		t.Fatalf("list: %d %v", code, res)
	}
	list := res["interactions"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["status"] != "Failed" || res["nextCursor"] == nil {
		t.Fatalf("page 1: %v", res)
	}
	code, res = h.do("GET", "/api/1.1/public/bot/bot-1/interactions?status=Failed&limit=1&cursor="+res["nextCursor"].(string), h.token, nil)
	if code != 200 || len(res["interactions"].([]any)) != 1 || res["nextCursor"] != nil {
		t.Fatalf("page 2: %d %v", code, res)
	}
	if code, _ := h.do("GET", "/api/1.1/public/bot/other/interactions", h.token, nil); code != 200 {
		t.Fatal(code)
	}
	if _, res := h.do("GET", "/api/1.1/public/bot/other/interactions", h.token, nil); len(res["interactions"].([]any)) != 0 {
		t.Fatalf("other bot sees calls: %v", res)
	}
	for id := range ids {
		if code, _ := h.do("GET", "/api/1.1/public/bot/other/interactions/"+id, h.token, nil); code != 404 {
			t.Fatalf("other bot's detail: %d", code)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, res := h.do("GET", "/api/1.1/public/bot/bot-1/interactions?from="+future, h.token, nil); len(res["interactions"].([]any)) != 0 {
		t.Fatalf("from filter: %v", res)
	}
	if code, res := h.do("GET", "/api/1.1/public/bot/bot-1/interactions?limit=0", h.token, nil); code != 400 || res["field"] != "limit" {
		t.Fatalf("bad limit: %d %v", code, res)
	}
}

// TestRestartResumesLiveCall: the gateway stops while a call rings; the new
// process re-subscribes to the call's engine and the call's later events
// arrive and are notified as usual (nothing is resolved as lost).
func TestRestartResumesLiveCall(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	db := filepath.Join(t.TempDir(), "gw.db")
	cfg := testConfig(eng.url())
	cfg.EngineLossTimeout = 10 * time.Second
	h1 := startGateway(t, cfg, db)
	h1.waitEngines(1)
	code, res := h1.dialout(dialBody("sip:slow@x.y", snk.srv.URL))
	if code != 200 {
		t.Fatalf("dialout %d %v", code, res)
	}
	id := res["callId"].(string)
	h1.stop()
	if n := len(snk.forCall(id)); n != 0 {
		t.Fatalf("%d notifications before the answer", n)
	}
	h2 := startGateway(t, cfg, db)
	waitUntil(t, "Answered and completed after restart", 10*time.Second, func() bool { return len(snk.forCall(id)) >= 2 })
	if got := fmt.Sprint(statuses(snk.forCall(id))); got != "[Answered completed]" {
		t.Fatalf("after restart: %s", got)
	}
	c, err := h2.st.GetCall(context.Background(), id)
	if err != nil || c.Status != store.StatusCompleted {
		t.Fatalf("record %+v %v", c, err)
	}
}

// TestSlowDialAck: the engine acks a dial after the gateway stopped
// waiting. The gateway cannot know whether the call exists, so it neither
// fails the request nor dials again elsewhere: it answers 200, keeps the
// call suspect, and the call's events settle it.
func TestSlowDialAck(t *testing.T) {
	eng := newFakeEngine(t)
	other := newFakeEngine(t)
	snk := newSink(t)
	cfg := testConfig(eng.url(), other.url())
	cfg.DialAckTimeout = 100 * time.Millisecond
	cfg.EngineLossTimeout = 5 * time.Second
	h := startGateway(t, cfg, "")
	h.waitEngines(2)
	for _, e := range []*fakeEngine{eng, other} {
		e.mu.Lock()
		e.ackDelay = 400 * time.Millisecond
		e.mu.Unlock()
	}
	code, res := h.dialout(dialBody("sip:human@x.y", snk.srv.URL))
	if code != 200 {
		t.Fatalf("dialout %d %v", code, res)
	}
	id := res["callId"].(string)
	waitUntil(t, "completed", 10*time.Second, func() bool { return len(snk.forCall(id)) >= 4 })
	if got := fmt.Sprint(statuses(snk.forCall(id))); got != "[Answered Call-In-Progress/amd_human_detected Call-In-Progress/amd_stopped completed]" {
		t.Fatalf("after a slow ack: %s", got)
	}
	if n := len(eng.dialed()) + len(other.dialed()); n != 1 {
		t.Fatalf("the call was dialled %d times", n)
	}
	h.gw.mu.Lock()
	_, suspect := h.gw.suspect[id]
	h.gw.mu.Unlock()
	if suspect {
		t.Fatal("call still suspect after its events")
	}
}

// TestManyConcurrentCalls: 100 calls dialled at once; every call's
// notifications arrive complete and in order (batched event application,
// concurrent deliveries across calls, one at a time within a call).
func TestManyConcurrentCalls(t *testing.T) {
	eng := newFakeEngine(t)
	snk := newSink(t)
	h := startGateway(t, testConfig(eng.url()), "")
	h.waitEngines(1)
	const n = 100
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, res := h.dialout(dialBody("sip:human@x.y", snk.srv.URL))
			if code != 200 {
				t.Errorf("dialout %d %v", code, res)
				return
			}
			ids <- res["callId"].(string)
		})
	}
	wg.Wait()
	close(ids)
	want := "[Answered Call-In-Progress/amd_human_detected Call-In-Progress/amd_stopped completed]"
	var all []string
	for id := range ids {
		all = append(all, id)
	}
	if len(all) != n {
		t.Fatalf("%d calls accepted", len(all))
	}
	waitUntil(t, "every notification", 60*time.Second, func() bool {
		snk.mu.Lock()
		defer snk.mu.Unlock()
		return len(snk.got) >= 4*n
	})
	for _, id := range all {
		if got := fmt.Sprint(statuses(snk.forCall(id))); got != want {
			t.Fatalf("%s: %s", id, got)
		}
	}
}
