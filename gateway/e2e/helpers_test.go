package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/amd-engine/amd/gateway"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/notify"
	"github.com/amd-engine/amd/gateway/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	jwtSecret  = "e2e-jwt-secret"
	signSecret = "e2e-signing-secret"
)

// sink is the notification receiver of the tests: it verifies each
// signature and keeps what arrived, in order.
type sink struct {
	mu  sync.Mutex
	got []gotNote
	srv *httptest.Server
}

type gotNote struct {
	Key    string
	Header http.Header
	Body   map[string]any
	Raw    string
	SigErr error
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	n := gotNote{Key: r.Header.Get(notify.IdempotencyHeader), Header: r.Header.Clone(), Raw: string(raw)}
	n.SigErr = notify.Verify([]byte(signSecret), r.Header.Get(notify.SignatureHeader), raw, time.Now(), notify.DefaultTolerance)
	_ = json.Unmarshal(raw, &n.Body)
	s.mu.Lock()
	s.got = append(s.got, n)
	s.mu.Unlock()
}

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

// statuses lists "status" or "Call-In-Progress/<amd event>" per notification.
func statuses(notes []gotNote) []string {
	var out []string
	for _, n := range notes {
		s, _ := n.Body["status"].(string)
		if md, ok := n.Body["machineDetection"].(map[string]any); ok && s == gateway.NotifyInProgress {
			s += "/" + fmt.Sprint(md["event"])
		}
		out = append(out, s)
	}
	return out
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gw is an in-process amdgw.
type gw struct {
	t     *testing.T
	st    *store.SQLite
	api   *httptest.Server
	token string
	g     *gateway.Gateway
}

func startGateway(t *testing.T, engines ...string) *gw {
	t.Helper()
	cfg := gateway.Config{
		Listen: "127.0.0.1:0", Engines: engines, JWTSecret: jwtSecret, SigningSecret: signSecret,
		DB: filepath.Join(t.TempDir(), "gw.db"), EngineLossTimeout: time.Minute,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, ResolveInterval: 100 * time.Millisecond,
		Notify: gateway.NotifyConfig{BaseBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
	st, err := store.OpenSQLite(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	h := &gw{t: t, st: st, api: httptest.NewServer(g.Handler()), g: g}
	h.token, _ = auth.Mint([]byte(jwtSecret), "e2e", time.Hour, time.Now())
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("gateway did not stop")
		}
		h.api.Close()
		st.Close()
	})
	waitUntil(t, "engine link", 10*time.Second, func() bool {
		resp, err := http.Get(h.api.URL + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ EnginesUp int }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return body.EnginesUp == len(engines)
	})
	return h
}

func (h *gw) dialout(body map[string]any) (int, map[string]any) {
	h.t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", h.api.URL+"/api/1.1/public/bot/bot-1/smartassist/dialout", bytes.NewReader(j))
	req.Header.Set("auth", h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func dialBody(target, notifyURL string) map[string]any {
	return map[string]any{
		"target": target, "caller": "+15550001", "notifyurl": notifyURL,
		"notifyHeaders": map[string]string{"X-Tenant": "acme"}, "metadata": map[string]any{"campaign": "c1"},
		"machineDetection": "detect",
	}
}
