package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/webrtcleg"
	"github.com/amd-engine/amd/webrtcleg/webrtctest"
)

// TestWHIPRefusals runs WHIP's bad inputs against the real service: each
// gets its status and a JSON reason naming the field, and no call, session
// or goroutine is left (goleak in TestMain).
func TestWHIPRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const token = "whip-token"
	svc := startService(t, func(c *ServiceConfig) {
		c.WebRTC = WebRTCConfig{UDPListen: "127.0.0.1:0"}
		c.ControlToken = token
		c.Manager.MaxCalls = 1
	})
	base := "http://" + svc.svc.ControlAddr().String()
	offerOf := func(o webrtctest.Options) (*webrtctest.Client, string) {
		c, err := webrtctest.NewClient(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		s, err := c.Offer(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	post := func(query, ctype, tok, body string) (int, http.Header, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+webrtcleg.WHIPPath+query, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	_, good := offerOf(webrtctest.Options{})
	_, noAudio := offerOf(webrtctest.Options{NoAudio: true})
	_, noOpus := offerOf(webrtctest.Options{PCMUOnly: true})
	for _, tc := range []struct {
		name, query, ctype, tok, body string
		status                        int
		field                         string
	}{
		{"no token", "", "application/sdp", "", good, http.StatusUnauthorized, ""},
		{"garbage sdp", "", "application/sdp", token, "v=0\r\nnonsense\r\n", http.StatusBadRequest, "sdp"},
		{"no audio", "", "application/sdp", token, noAudio, http.StatusBadRequest, "sdp"},
		{"no opus", "", "application/sdp", token, noOpus, http.StatusBadRequest, "sdp"},
		{"oversized", "", "application/sdp", token, good + strings.Repeat("a=x:y\r\n", 10000), http.StatusRequestEntityTooLarge, "sdp"},
		{"not sdp", "", "application/json", token, `{"sdp":"v=0"}`, http.StatusUnsupportedMediaType, "Content-Type"},
		{"bad timer", "?decisionTimeoutMs=99999999", "application/sdp", token, good, http.StatusBadRequest, "decisionTimeoutMs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := post(tc.query, tc.ctype, tc.tok, tc.body)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %s", st, tc.status, body)
			}
			var e struct{ Field, Message string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message == "" || e.Field != tc.field {
				t.Errorf("body %s: want a reason naming %q", body, tc.field)
			}
		})
	}
	if n := svc.svc.WebRTC().Host().Sessions(); n != 0 {
		t.Errorf("%d sessions after refusals", n)
	}

	// Capacity: one call runs (max-calls 1), the next POST is 503.
	st, hd, body := post("?callId=first", "application/sdp", token, good)
	if st != http.StatusCreated || hd.Get("Location") != webrtcleg.WHIPPath+"/first" {
		t.Fatalf("first POST: %d %v %s", st, hd, body)
	}
	_, second := offerOf(webrtctest.Options{})
	if st, hd, body := post("", "application/sdp", token, second); st != http.StatusServiceUnavailable || hd.Get("Retry-After") == "" {
		t.Errorf("POST over capacity: %d %v %s", st, hd, body)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, base+webrtcleg.WHIPPath+"/first", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("DELETE: %d", res.StatusCode)
	}

	// Every response above is counted by method and status.
	mres, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	for _, want := range []string{
		`amd_whip_requests_total{code="201",method="POST"} 1`,
		`amd_whip_requests_total{code="400",method="POST"} 4`,
		`amd_whip_requests_total{code="503",method="POST"} 1`,
		`amd_whip_requests_total{code="200",method="DELETE"} 1`,
		"amd_webrtc_sessions ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestControlQueryToken: with WebRTC on, a browser can pass the control
// token as ?token=; a wrong one is still refused, and a service without
// WebRTC does not take tokens from URLs at all.
func TestControlQueryToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const token = "q-token"
	for _, tc := range []struct {
		name   string
		webrtc bool
		query  string
		ok     bool
	}{
		{"webrtc right token", true, "?token=" + token, true},
		{"webrtc wrong token", true, "?token=nope", false},
		{"webrtc no token", true, "", false},
		{"no webrtc", false, "?token=" + token, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := startService(t, func(c *ServiceConfig) {
				c.ControlToken = token
				if tc.webrtc {
					c.WebRTC = WebRTCConfig{UDPListen: "127.0.0.1:0"}
				}
			})
			cli, err := control.Connect(ctx, svc.url+tc.query, "")
			if tc.ok {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer cli.Close()
				if _, err := cli.Ping(ctx); err != nil {
					t.Fatalf("ping: %v", err)
				}
				return
			}
			if !errors.Is(err, control.ErrUnauthorized) {
				if cli != nil {
					cli.Close()
				}
				t.Fatalf("connect: %v, want unauthorized", err)
			}
		})
	}
}

// stuckDialer's calls ring forever: a live SIP call for WHIP to leave alone.
type stuckDialer struct{}

func (stuckDialer) Dial(context.Context, DialRequest) (Call, error) {
	return stuckCall{make(chan Progress)}, nil
}

type stuckCall struct{ ch chan Progress }

func (c stuckCall) Progress() <-chan Progress  { return c.ch }
func (stuckCall) Media() Media                 { return nil }
func (stuckCall) Hangup(context.Context) error { return nil }
func (stuckCall) Close() error                 { return nil }

type nopPublisher struct{}

func (nopPublisher) Publish(string, any) {}
func (nopPublisher) Forget(string)       {}

// TestWHIPDeleteLeavesSIPCalls: DELETE /v1/whip/{id} ends WebRTC calls
// only; a SIP call's ID is as unknown to WHIP as a made-up one.
func TestWHIPDeleteLeavesSIPCalls(t *testing.T) {
	m, err := New(Config{}, stuckDialer{}, nopPublisher{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	if _, err := m.Dial(context.Background(), control.Dial{CallID: "sip-1", Target: "sip:a@127.0.0.1", Caller: "amd", MachineDetection: "disabled"}); err != nil {
		t.Fatal(err)
	}
	e := NewWebRTCEngine(m, WebRTCConfig{UDPListen: "127.0.0.1:0"})
	for _, id := range []string{"sip-1", "nobody"} {
		if err := e.EndSession(id); !errors.Is(err, control.ErrUnknownCall) {
			t.Errorf("EndSession(%q) = %v, want ErrUnknownCall", id, err)
		}
	}
	if got := m.ActiveCalls(); len(got) != 1 || got[0] != "sip-1" {
		t.Errorf("active calls %v: the SIP call must still run", got)
	}
}
