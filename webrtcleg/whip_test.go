package webrtcleg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// recordingEngine answers every offer with a fixed SDP and records what
// the handler asked; sessions it "runs" can be hung up once.
type recordingEngine struct {
	mu     sync.Mutex
	offers []control.WebRTCOffer
	live   map[string]bool
	err    error
}

func (e *recordingEngine) WebRTCOffer(_ context.Context, o control.WebRTCOffer) (control.WebRTCAnswer, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return control.WebRTCAnswer{}, e.err
	}
	e.offers = append(e.offers, o)
	if e.live == nil {
		e.live = map[string]bool{}
	}
	e.live[o.CallID] = true
	return control.WebRTCAnswer{CallID: o.CallID, SDP: "v=0\r\nanswer\r\n"}, nil
}

func (e *recordingEngine) EndSession(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.live[id] {
		return fmt.Errorf("call %q: %w", id, control.ErrUnknownCall)
	}
	delete(e.live, id)
	return nil
}

type whipReq struct {
	method, path, ctype, token, origin, body string
}

func doWHIP(t *testing.T, h http.Handler, r whipReq) *http.Response {
	t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestWHIPHandler(t *testing.T) {
	const tok = "s3cret"
	ok := whipReq{method: http.MethodPost, path: WHIPPath + "?callId=c1&machineDetection=disconnect&thresholdWordCount=5&decisionTimeoutMs=9000&metadata.campaign=spring", ctype: "application/sdp", token: tok, body: chromeOffer}
	with := func(f func(*whipReq)) whipReq { r := ok; f(&r); return r }
	tests := []struct {
		name   string
		req    whipReq
		status int
		field  string // error body's field
	}{
		{"created", ok, http.StatusCreated, ""},
		{"content type with charset", with(func(r *whipReq) { r.ctype = "application/sdp; charset=utf-8" }), http.StatusCreated, ""},
		{"no token", with(func(r *whipReq) { r.token = "" }), http.StatusUnauthorized, ""},
		{"wrong token", with(func(r *whipReq) { r.token = "nope" }), http.StatusUnauthorized, ""},
		{"json body", with(func(r *whipReq) { r.ctype = "application/json" }), http.StatusUnsupportedMediaType, "Content-Type"},
		{"oversized", with(func(r *whipReq) { r.body = chromeOffer + strings.Repeat("a=x:y\r\n", MaxOfferBytes/7) }), http.StatusRequestEntityTooLarge, "sdp"},
		{"garbage sdp", with(func(r *whipReq) { r.body = "hello" }), http.StatusBadRequest, "sdp"},
		{"no opus", with(func(r *whipReq) {
			r.body = strings.NewReplacer("111 0", "0", "a=rtpmap:111 opus/48000/2\r\n", "").Replace(chromeOffer)
		}), http.StatusBadRequest, "sdp"},
		{"unknown parameter", with(func(r *whipReq) { r.path = WHIPPath + "?machineDetecton=detect" }), http.StatusBadRequest, "machineDetecton"},
		{"bad mode", with(func(r *whipReq) { r.path = WHIPPath + "?machineDetection=maybe" }), http.StatusBadRequest, "machineDetection"},
		{"bad timer", with(func(r *whipReq) { r.path = WHIPPath + "?toneTimeoutMs=-5" }), http.StatusBadRequest, "toneTimeoutMs"},
		{"not a number", with(func(r *whipReq) { r.path = WHIPPath + "?noSpeechTimeoutMs=5s" }), http.StatusBadRequest, "noSpeechTimeoutMs"},
		{"repeated parameter", with(func(r *whipReq) { r.path = WHIPPath + "?callId=a&callId=b" }), http.StatusBadRequest, "callId"},
		{"bad call id", with(func(r *whipReq) { r.path = WHIPPath + "?callId=a%20b" }), http.StatusBadRequest, "callId"},
		{"get endpoint", with(func(r *whipReq) { r.method = http.MethodGet }), http.StatusMethodNotAllowed, ""},
		{"patch session", with(func(r *whipReq) { r.method = http.MethodPatch; r.path = WHIPPath + "/c1" }), http.StatusMethodNotAllowed, ""},
		{"delete unknown", with(func(r *whipReq) { r.method = http.MethodDelete; r.path = WHIPPath + "/nobody" }), http.StatusNotFound, ""},
		{"other path", with(func(r *whipReq) { r.path = "/v1/whipx" }), http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eng := &recordingEngine{}
			h := NewWHIPHandler(eng, WithWHIPToken(tok))
			res := doWHIP(t, h, tc.req)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusCreated {
				if loc := res.Header.Get("Location"); loc != WHIPPath+"/c1" {
					t.Errorf("Location %q", loc)
				}
				if ct := res.Header.Get("Content-Type"); ct != "application/sdp" || string(body) != "v=0\r\nanswer\r\n" {
					t.Errorf("answer %q %q", ct, body)
				}
				o := eng.offers[0]
				if o.CallID != "c1" || o.MachineDetection != engine.ModeDisconnect || o.ThresholdWordCount != 5 ||
					o.Timers.DecisionTimeoutMs != 9000 || o.Metadata["campaign"] != "spring" || o.SDP != chromeOffer {
					t.Errorf("offer handed to the engine: %+v", o)
				}
				return
			}
			if len(eng.offers) != 0 {
				t.Errorf("refused request reached the engine: %+v", eng.offers)
			}
			var e whipError
			if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
				t.Fatalf("error body %q: %v", body, err)
			}
			if e.Field != tc.field {
				t.Errorf("error names field %q, want %q (%s)", e.Field, tc.field, e.Message)
			}
		})
	}
}

// TestWHIPSessionLifecycle: POST, DELETE the Location, DELETE again → 404;
// a generated call ID when the client sends none.
func TestWHIPSessionLifecycle(t *testing.T) {
	eng := &recordingEngine{}
	h := NewWHIPHandler(eng)
	res := doWHIP(t, h, whipReq{method: http.MethodPost, path: WHIPPath, ctype: "application/sdp", body: chromeOffer})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if id := strings.TrimPrefix(loc, WHIPPath+"/"); len(id) != 36 || id != eng.offers[0].CallID {
		t.Fatalf("Location %q for call %q", loc, eng.offers[0].CallID)
	}
	for i, want := range []int{http.StatusOK, http.StatusNotFound} {
		if res := doWHIP(t, h, whipReq{method: http.MethodDelete, path: loc}); res.StatusCode != want {
			t.Errorf("DELETE #%d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
}

// TestWHIPCORS: a page on another origin can preflight, publish and read
// Location; a restricted handler ignores origins it does not know.
func TestWHIPCORS(t *testing.T) {
	h := NewWHIPHandler(&recordingEngine{}, WithWHIPToken("t"))
	pre := doWHIP(t, h, whipReq{method: http.MethodOptions, path: WHIPPath, origin: "http://page.example"})
	if pre.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight %d (must not need the token)", pre.StatusCode)
	}
	hd := pre.Header
	if hd.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("preflight headers %v", hd)
	}
	post := doWHIP(t, h, whipReq{method: http.MethodPost, path: WHIPPath, ctype: "application/sdp", token: "t", origin: "http://page.example", body: chromeOffer})
	if !strings.Contains(post.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("Location not exposed: %v", post.Header)
	}
	// Refusals carry CORS too, or the page could not read why.
	bad := doWHIP(t, h, whipReq{method: http.MethodPost, path: WHIPPath, ctype: "text/plain", token: "t", origin: "http://page.example"})
	if bad.StatusCode != http.StatusUnsupportedMediaType || bad.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("refusal %d without CORS: %v", bad.StatusCode, bad.Header)
	}
	strict := NewWHIPHandler(&recordingEngine{}, WithAllowedOrigins("http://ok.example"))
	if got := doWHIP(t, strict, whipReq{method: http.MethodOptions, path: WHIPPath, origin: "http://ok.example"}).Header.Get("Access-Control-Allow-Origin"); got != "http://ok.example" {
		t.Errorf("allowed origin echoed as %q", got)
	}
	if got := doWHIP(t, strict, whipReq{method: http.MethodOptions, path: WHIPPath, origin: "http://evil.example"}).Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("unknown origin allowed: %q", got)
	}
}

// TestWHIPEngineErrors: the engine's refusals map onto statuses.
func TestWHIPEngineErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{&control.CommandError{Code: control.CodeAtCapacity, Message: "full"}, http.StatusServiceUnavailable},
		{&control.FieldError{Field: "callId", Message: "already live"}, http.StatusBadRequest},
		{fmt.Errorf("x: %w", ErrNoOpus), http.StatusBadRequest},
		{ErrClosed, http.StatusServiceUnavailable},
		{errors.New("boom"), http.StatusInternalServerError},
	} {
		h := NewWHIPHandler(&recordingEngine{err: tc.err})
		res := doWHIP(t, h, whipReq{method: http.MethodPost, path: WHIPPath, ctype: "application/sdp", body: chromeOffer})
		if res.StatusCode != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, res.StatusCode, tc.status)
		}
	}
}

// FuzzWHIPIntake: any query string and body through the intake: no panic,
// and whatever is accepted is a valid webrtc.offer with a call ID and an
// SDP CheckOffer accepts; whatever is refused names a field.
func FuzzWHIPIntake(f *testing.F) {
	f.Add("callId=a&machineDetection=detect&metadata.k=v", chromeOffer)
	f.Add("thresholdWordCount=9999&toneTimeoutMs=x", "v=0\r\n")
	f.Add("%zz", "")
	f.Add("metadata.=1&decisionTimeoutMs=1", strings.Replace(chromeOffer, "sendonly", "recvonly", 1))
	f.Fuzz(func(t *testing.T, query, body string) {
		o, err := ParseWHIPRequest(query, body)
		if err != nil {
			var fe *control.FieldError
			var ce *control.CommandError
			if !errors.As(err, &fe) && !errors.As(err, &ce) {
				t.Fatalf("refusal without a field: %v", err)
			}
			return
		}
		if o.CallID == "" {
			t.Fatal("accepted without a call ID")
		}
		if _, cerr := CheckOffer(o.SDP); cerr != nil {
			t.Fatalf("accepted an SDP CheckOffer refuses: %v", cerr)
		}
		b, _ := json.Marshal(&o)
		if _, _, derr := control.DecodeCommand(b); derr != nil {
			t.Fatalf("accepted an offer the control protocol refuses: %v", derr)
		}
	})
}

// FuzzCheckOffer: SDP parsing on hostile input never panics and its
// refusals always wrap one of the leg's sentinels.
func FuzzCheckOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("v=0\r\nm=audio 1 RTP/AVP 0\r\n")
	f.Add("v=0\r\no=- 0 0 IN IP4 0\r\ns=-\r\nt=0 0\r\na=fingerprint:x\r\nm=audio 9 UDP 111\r\na=rtpmap:111 OPUS/48000/2\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		_, err := CheckOffer(sdp)
		if err != nil && !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrNoAudio) && !errors.Is(err, ErrNoOpus) {
			t.Fatalf("refusal without a sentinel: %v", err)
		}
	})
}
