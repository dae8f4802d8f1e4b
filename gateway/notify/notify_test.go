package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/amd-engine/amd/gateway/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("test-secret")

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"status":"Answered"}`)
	good := Sign(secret, now, body)
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", secret, good, body, now, nil},
		{"good within tolerance", secret, good, body, now.Add(4 * time.Minute), nil},
		{"rotation: second v1 matches", secret, Sign([]byte("old"), now, body) + ",v1=" + good[len("t=1700000000,v1="):], body, now, nil},
		{"unknown scheme ignored", secret, good + ",v0=zz", body, now, nil},
		{"wrong secret", []byte("other"), good, body, now, ErrSignatureMismatch},
		{"tampered body", secret, good, []byte(`{"status":"Failed"}`), now, ErrSignatureMismatch},
		{"too old", secret, good, body, now.Add(6 * time.Minute), ErrSignatureExpired},
		{"from the future", secret, good, body, now.Add(-6 * time.Minute), ErrSignatureExpired},
		{"no t", secret, "v1=" + good[len("t=1700000000,v1="):], body, now, ErrBadSignatureHeader},
		{"no v1", secret, "t=1700000000", body, now, ErrBadSignatureHeader},
		{"short mac", secret, "t=1700000000,v1=abcd", body, now, ErrBadSignatureHeader},
		{"garbage", secret, "hello", body, now, ErrBadSignatureHeader},
		{"empty", secret, "", body, now, ErrBadSignatureHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.now, DefaultTolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(Sign(secret, time.Unix(1_700_000_000, 0), []byte("x")))
	f.Add("t=1,v1=00")
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := ParseSignature(h)
		if err != nil {
			return
		}
		if p.Timestamp <= 0 || len(p.V1) == 0 {
			t.Fatalf("accepted %q without t or v1: %+v", h, p)
		}
		for _, v := range p.V1 {
			if len(v) != 32 {
				t.Fatalf("accepted a %d-byte MAC", len(v))
			}
		}
	})
}

func TestBackoff(t *testing.T) {
	p := Policy{BaseBackoff: time.Second, MaxBackoff: time.Minute}
	tests := []struct {
		attempts int
		lo, hi   time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{7, 30 * time.Second, time.Minute},
		{50, 30 * time.Second, time.Minute},
	}
	for _, tc := range tests {
		for range 200 {
			d := p.Backoff(tc.attempts)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("Backoff(%d) = %s, want [%s, %s]", tc.attempts, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 408: true, 409: false, 429: true, 500: true, 502: true, 503: true} {
		if Retryable(code) != want {
			t.Errorf("Retryable(%d) = %v", code, !want)
		}
	}
}

// receiver records what a notify URL receives, verifying each signature.
type receiver struct {
	mu   sync.Mutex
	got  []received
	next func(r received) int // status to answer; nil = 200
}

type received struct {
	Key, Seq, CallHeader string
	Body                 map[string]any
	SigErr               error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	rec := received{Key: r.Header.Get(IdempotencyHeader), Seq: r.Header.Get(SequenceHeader), CallHeader: r.Header.Get("X-Call")}
	rec.SigErr = Verify(secret, r.Header.Get(SignatureHeader), raw, time.Now(), DefaultTolerance)
	if r.Header.Get("Content-Type") != "application/json" {
		rec.SigErr = fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	_ = json.Unmarshal(raw, &rec.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, rec)
	next := rc.next
	rc.mu.Unlock()
	code := 200
	if next != nil {
		code = next(rec)
	}
	w.WriteHeader(code)
}

func (rc *receiver) snapshot() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func fastPolicy() Policy {
	return Policy{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, MaxAge: time.Hour, AttemptTimeout: 2 * time.Second}
}

type fixture struct {
	st     *store.SQLite
	d      *Dispatcher
	cancel context.CancelFunc
	done   chan error
}

func startDispatcher(t *testing.T, p Policy) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, d: NewDispatcher(st, secret, WithPolicy(p), WithWorkers(4)), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- f.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			t.Error("dispatcher did not stop")
		}
		st.Close()
	})
	return f
}

func (f *fixture) queue(t *testing.T, callID, url string, statuses ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.st.GetCall(ctx, callID); errors.Is(err, store.ErrNotFound) {
		if err := f.st.CreateCall(ctx, &store.Call{CallID: callID, BotID: "b", Status: store.StatusQueued, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	err := f.st.UpdateCall(ctx, callID, func(c *store.Call) ([]store.Notification, error) {
		var out []store.Notification
		for _, s := range statuses {
			body, _ := json.Marshal(map[string]string{"conversationId": callID, "status": s})
			out = append(out, store.Notification{Status: s, URL: url, Body: body, Headers: map[string]string{"X-Call": callID}})
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.d.Wake()
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) states(t *testing.T, callID string) []string {
	notes, err := f.st.Notifications(context.Background(), callID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range notes {
		out = append(out, n.State)
	}
	return out
}

func allFinal(states []string) bool {
	for _, s := range states {
		if s == store.DeliveryPending {
			return false
		}
	}
	return len(states) > 0
}

func TestDeliversInOrderSigned(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := startDispatcher(t, fastPolicy())
	calls := []string{"c1", "c2", "c3"}
	for _, c := range calls {
		f.queue(t, c, srv.URL, "Answered", "Call-In-Progress", "completed")
	}
	waitFor(t, "9 deliveries", 10*time.Second, func() bool { return len(rc.snapshot()) >= 9 })
	got := rc.snapshot()
	if len(got) != 9 {
		t.Fatalf("%d deliveries, want 9", len(got))
	}
	perCall := map[string][]string{}
	keys := map[string]bool{}
	for _, r := range got {
		if r.SigErr != nil {
			t.Fatalf("signature: %v", r.SigErr)
		}
		if keys[r.Key] {
			t.Fatalf("duplicate key %s", r.Key)
		}
		keys[r.Key] = true
		c := r.Body["conversationId"].(string)
		if r.CallHeader != c {
			t.Fatalf("notifyHeaders: X-Call=%q on %s", r.CallHeader, c)
		}
		perCall[c] = append(perCall[c], r.Body["status"].(string))
	}
	for _, c := range calls {
		if fmt.Sprint(perCall[c]) != "[Answered Call-In-Progress completed]" {
			t.Fatalf("%s order: %v", c, perCall[c])
		}
		waitFor(t, "delivered state", 5*time.Second, func() bool { return allFinal(f.states(t, c)) })
	}
}

func TestRetriesThenDeliversSameKey(t *testing.T) {
	rc := &receiver{}
	var fails int
	rc.next = func(r received) int {
		if r.Body["status"] == "Answered" && fails < 3 {
			fails++
			return []int{503, 429, 408}[fails-1]
		}
		return 200
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := startDispatcher(t, fastPolicy())
	f.queue(t, "c", srv.URL, "Answered", "completed")
	waitFor(t, "final", 10*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	got := rc.snapshot()
	var order []string
	for _, r := range got {
		order = append(order, r.Body["status"].(string)+"/"+r.Key)
	}
	want := "[Answered/c.1 Answered/c.1 Answered/c.1 Answered/c.1 completed/c.2]"
	if fmt.Sprint(order) != want {
		t.Fatalf("received %v, want %s", order, want)
	}
	notes, _ := f.st.Notifications(context.Background(), "c")
	if notes[0].Attempts != 4 || notes[0].State != store.DeliveryDelivered || notes[1].Attempts != 1 {
		t.Fatalf("recorded: %+v", notes)
	}
}

func TestFinal4xxRecordedAndQueueMovesOn(t *testing.T) {
	rc := &receiver{next: func(r received) int {
		if r.Body["status"] == "Answered" {
			return 404
		}
		return 200
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := startDispatcher(t, fastPolicy())
	f.queue(t, "c", srv.URL, "Answered", "completed")
	waitFor(t, "final", 10*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	notes, _ := f.st.Notifications(context.Background(), "c")
	if notes[0].State != store.DeliveryFailed || notes[0].LastHTTPCode != 404 || notes[0].Attempts != 1 {
		t.Fatalf("404 row: %+v", notes[0])
	}
	if notes[1].State != store.DeliveryDelivered {
		t.Fatalf("next row: %+v", notes[1])
	}
	if len(rc.snapshot()) != 2 {
		t.Fatalf("a final 4xx was retried: %d posts", len(rc.snapshot()))
	}
}

func TestReceiverDownThenUp(t *testing.T) {
	// Reserve a port, close it: connection refused until the receiver starts.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := startDispatcher(t, fastPolicy())
	f.queue(t, "c", "http://"+addr+"/hook", "Answered", "Call-In-Progress", "completed")
	waitFor(t, "some failed attempts", 5*time.Second, func() bool {
		notes, _ := f.st.Notifications(context.Background(), "c")
		return notes[0].Attempts >= 3
	})
	notes, _ := f.st.Notifications(context.Background(), "c")
	if notes[1].Attempts != 0 {
		t.Fatal("second notification attempted before the first was delivered")
	}
	rc := &receiver{}
	var l2 net.Listener
	waitFor(t, "rebind", 5*time.Second, func() bool { l2, err = net.Listen("tcp", addr); return err == nil })
	srv := &http.Server{Handler: rc}
	go srv.Serve(l2)
	defer srv.Close()
	waitFor(t, "all delivered", 10*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	var order []string
	for _, r := range rc.snapshot() {
		order = append(order, r.Body["status"].(string))
	}
	if fmt.Sprint(order) != "[Answered Call-In-Progress completed]" {
		t.Fatalf("order after outage: %v", order)
	}
	for _, s := range f.states(t, "c") {
		if s != store.DeliveryDelivered {
			t.Fatalf("states %v", f.states(t, "c"))
		}
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	rc := &receiver{next: func(received) int { return 500 }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	p := fastPolicy()
	p.MaxAge = 100 * time.Millisecond
	f := startDispatcher(t, p)
	f.queue(t, "c", srv.URL, "Answered")
	waitFor(t, "given up", 5*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	notes, _ := f.st.Notifications(context.Background(), "c")
	if notes[0].State != store.DeliveryFailed || notes[0].Attempts < 2 {
		t.Fatalf("after max age: %+v", notes[0])
	}
}

func TestNoRedirectFollow(t *testing.T) {
	target := &receiver{}
	tsrv := httptest.NewServer(target)
	defer tsrv.Close()
	redir := httptest.NewServer(http.RedirectHandler(tsrv.URL, http.StatusTemporaryRedirect))
	defer redir.Close()
	f := startDispatcher(t, fastPolicy())
	f.queue(t, "c", redir.URL, "Answered")
	waitFor(t, "final", 5*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	if len(target.snapshot()) != 0 {
		t.Fatal("redirect followed")
	}
	if s := f.states(t, "c"); s[0] != store.DeliveryFailed {
		t.Fatalf("redirect: %v", s)
	}
}

// BenchmarkSign: signing runs once per attempt; it must stay cheap.
func BenchmarkSign(b *testing.B) {
	body := make([]byte, 1024)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_ = Sign(secret, now, body)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{"0", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", DefaultMaxAge, true},
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s %v, want %s %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 25 Nov 2026 09:00:00 GMT")
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := ParseRetryAfter(v, time.Now()); ok && (d < 0 || d > DefaultMaxAge) {
			t.Fatalf("%q → %s", v, d)
		}
	})
}

// TestRetryAfterHonoured: a 429 with Retry-After delays the retry at least
// that long (within MaxBackoff), and a bad URL is final at once.
func TestRetryAfterHonoured(t *testing.T) {
	var first atomic.Int64 // unix ns of the first POST
	rc := &receiver{}
	rc.next = func(r received) int {
		if first.CompareAndSwap(0, time.Now().UnixNano()) {
			return 429
		}
		return 200
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := fastPolicy()
	p.MaxBackoff = 2 * time.Second
	f := startDispatcher(t, p)
	f.queue(t, "c", srv.URL, "Answered")
	f.queue(t, "bad", "http://[::1", "Answered")
	waitFor(t, "delivered", 10*time.Second, func() bool { return allFinal(f.states(t, "c")) })
	got := rc.snapshot()
	if len(got) != 2 {
		t.Fatalf("%d posts", len(got))
	}
	if gap := time.Since(time.Unix(0, first.Load())); gap < 900*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 1", gap)
	}
	waitFor(t, "bad URL final", 5*time.Second, func() bool { return allFinal(f.states(t, "bad")) })
	notes, _ := f.st.Notifications(context.Background(), "bad")
	if notes[0].State != store.DeliveryFailed || notes[0].Attempts != 1 {
		t.Fatalf("bad URL: %+v", notes[0])
	}
}
