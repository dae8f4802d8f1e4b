package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/notify"
	"github.com/amd-engine/amd/gateway/store"

	_ "modernc.org/sqlite" // the test's own connection, to hold amdgw's write lock
)

// proc is an amdgw subprocess.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	logs strings.Builder
}

func buildAmdgw(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "amdgw")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../../cmd/amdgw").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProc(t *testing.T, bin, addr string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", addr, "--log-level", "debug"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AMD_JWT_SECRET=" + jwtSecret, "AMD_SIGNING_SECRET=" + signSecret}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("amdgw log:\n%s", p.logs.String())
			p.mu.Unlock()
		}
	})
	waitUntil(t, "amdgw engine link", 20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ EnginesUp int }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return body.EnginesUp == 1
	})
	return p
}

// kill sends SIGKILL: none of amdgw's shutdown code runs.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// gate is a receiver that answers 503 until opened, recording every POST.
type gate struct {
	mu   sync.Mutex
	open bool
	got  []gateNote
}

type gateNote struct {
	key, status string
	code        int
	sigErr      error
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ConversationID string `json:"conversationId"`
		Status         string `json:"status"`
	}
	raw := make([]byte, 0, 2048)
	buf := make([]byte, 2048)
	for {
		n, err := r.Body.Read(buf)
		raw = append(raw, buf[:n]...)
		if err != nil {
			break
		}
	}
	_ = json.Unmarshal(raw, &body)
	g.mu.Lock()
	code := http.StatusServiceUnavailable
	if g.open {
		code = http.StatusOK
	}
	g.got = append(g.got, gateNote{key: r.Header.Get(notify.IdempotencyHeader), status: body.Status, code: code,
		sigErr: notify.Verify([]byte(signSecret), r.Header.Get(notify.SignatureHeader), raw, time.Now(), notify.DefaultTolerance)})
	g.mu.Unlock()
	w.WriteHeader(code)
}

// acked returns, per call id prefix of the key, the statuses acknowledged
// (first 200 of each key, in order).
func (g *gate) acked(id string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, n := range g.got {
		if n.code == 200 && strings.HasPrefix(n.key, id+".") && !seen[n.key] {
			seen[n.key] = true
			out = append(out, n.status)
		}
	}
	return out
}

// TestE2EKill9WithAmdd: amdgw (built binary) dials real calls through amdd
// while the receiver is down, is killed with SIGKILL with every
// notification still owed, and a new process on the same database delivers
// them all, in order, once the receiver is back.
func TestE2EKill9WithAmdd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds amdgw, runs amdd and SIPp")
	}
	bin := buildAmdgw(t)
	amddURL := startAmdd(t)
	obs := observe(t, amddURL)
	rcv := &gate{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dbPath := filepath.Join(t.TempDir(), "gw.db")
	args := []string{"--engine", amddURL, "--db", dbPath,
		"--notify-base-backoff", "50ms", "--notify-max-backoff", "300ms", "--engine-loss-timeout", "1m"}
	p := startProc(t, bin, addr, args...)
	token, _ := auth.Mint([]byte(jwtSecret), "e2e", time.Hour, time.Now())
	dial := func(target string) string {
		body := fmt.Sprintf(`{"target":%q,"caller":"+1555","notifyurl":%q}`, target, srv.URL)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/1.1/public/bot/b/smartassist/dialout", strings.NewReader(body))
		req.Header.Set("auth", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct{ CallID string }
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
			t.Fatalf("dialout %d %v", resp.StatusCode, err)
		}
		return res.CallID
	}
	wav := clipFor(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	busy := dial(fmt.Sprintf("sip:x@127.0.0.1:%d", startCallee(t, "uas_busy.xml", nil)))
	human := dial(fmt.Sprintf("sip:h@127.0.0.1:%d", startCallee(t, "uas_stream_bye.xml", map[string]string{"WAV": wav, "BYE_MS": "5000"})))

	// Both calls end while the receiver refuses everything.
	waitUntil(t, "both calls final at amdd", 60*time.Second, func() bool {
		return len(obs.expected(busy, all)) == 1 && strings.HasSuffix(fmt.Sprint(obs.expected(human, all)), "completed]")
	})
	waitUntil(t, "refused attempts", 10*time.Second, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.got) >= 3
	})
	// Kill only once amdgw has stored every status amdd sent: the guarantee
	// under test is that a stored notification survives kill -9. Events
	// still in flight at the kill are TestE2EKill9InFlight's case (replayed
	// by amdd on re-subscribe).
	st, err := store.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "amdgw stored every status", 30*time.Second, func() bool {
		for _, id := range []string{busy, human} {
			notes, err := st.Notifications(context.Background(), id)
			if err != nil || len(notes) < len(obs.expected(id, all)) {
				return false
			}
		}
		return true
	})
	st.Close()
	p.kill()
	rcv.mu.Lock()
	rcv.open = true
	rcv.mu.Unlock()
	startProc(t, bin, addr, args...)
	for _, id := range []string{busy, human} {
		var plain []string // the gate reads status only, not the AMD event
		for _, s := range obs.expected(id, all) {
			plain = append(plain, strings.SplitN(s, "/", 2)[0])
		}
		want := fmt.Sprint(plain)
		deadline := time.Now().Add(30 * time.Second)
		for strings.Join(rcv.acked(id), " ") != strings.Trim(want, "[]") {
			if time.Now().After(deadline) {
				got := rcv.acked(id)
				rcv.mu.Lock()
				t.Fatalf("%s: acknowledged %v, amdd said %s; all POSTs: %+v", id, got, want, rcv.got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	owed := map[string]int{busy: len(obs.expected(busy, all)), human: len(obs.expected(human, all))}
	for _, n := range rcv.got {
		if n.sigErr != nil {
			t.Fatalf("signature: %v", n.sigErr)
		}
		// Keys are stable across retries and the restart: <callId>.<seq>
		// with seq within what the call owes, never a fresh key.
		id, seq, _ := strings.Cut(n.key, ".")
		var k int
		if _, err := fmt.Sscanf(seq, "%d", &k); err != nil || k < 1 || k > owed[id] {
			t.Fatalf("unexpected idempotency key %q", n.key)
		}
	}
	t.Logf("busy %v, human %v after %d POSTs", obs.expected(busy, all), obs.expected(human, all), len(rcv.got))
}

// lockWrites takes SQLite's write lock on path from another connection, the
// way a stalled disk would: amdgw keeps receiving events but cannot store
// them. The returned func releases the lock.
func lockWrites(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			_ = conn.Close()
			_ = db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// TestE2EKill9InFlight: amdgw is killed with SIGKILL while amdd's events are
// in flight — amdd sent them, amdgw received them, none is stored (its
// database write lock is held by the test from just after each call's
// Answered was stored, so the kill lands with the decision and, for one
// call, the final status unstored). The restarted amdgw re-subscribes with
// replay: every notification is delivered, in order, under stable keys
// (<callId>.1..n, one body per key), the ended call resolves by its real
// outcome at once, and the live call goes on to its end — none is Failed.
func TestE2EKill9InFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds amdgw, runs amdd and SIPp")
	}
	bin := buildAmdgw(t)
	amddURL := startAmdd(t)
	obs := observe(t, amddURL)
	snk := newSink(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dbPath := filepath.Join(t.TempDir(), "gw.db")
	// A loss timeout far beyond the test's waits: a call resolved as lost
	// would show up as Failed, not as a pass by timeout.
	args := []string{"--engine", amddURL, "--db", dbPath,
		"--notify-base-backoff", "50ms", "--notify-max-backoff", "300ms", "--engine-loss-timeout", "5m"}
	p := startProc(t, bin, addr, args...)
	token, _ := auth.Mint([]byte(jwtSecret), "e2e", time.Hour, time.Now())
	dial := func(target string) string {
		t.Helper()
		body := fmt.Sprintf(`{"target":%q,"caller":"+1555","notifyurl":%q}`, target, snk.srv.URL)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/1.1/public/bot/b/smartassist/dialout", strings.NewReader(body))
		req.Header.Set("auth", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct{ CallID string }
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
			t.Fatalf("dialout %d %v", resp.StatusCode, err)
		}
		return res.CallID
	}
	wav := clipFor(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	// short ends while amdgw cannot store; long is still up at the kill.
	short := dial(fmt.Sprintf("sip:s@127.0.0.1:%d", startCallee(t, "uas_stream_bye.xml", map[string]string{"WAV": wav, "BYE_MS": "3500"})))
	long := dial(fmt.Sprintf("sip:l@127.0.0.1:%d", startCallee(t, "uas_stream_bye.xml", map[string]string{"WAV": wav, "BYE_MS": "9000"})))

	st, err := store.OpenSQLite(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	stored := func(id string) int {
		notes, err := st.Notifications(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(notes)
	}
	waitUntil(t, "Answered stored for both calls", 30*time.Second, func() bool { return stored(short) >= 1 && stored(long) >= 1 })
	release := lockWrites(t, dbPath)
	atLock := map[string]int{short: stored(short), long: stored(long)}

	decided := func(id string) bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		for _, in := range obs.got[id] {
			if in.AMD != nil && in.AMD.Event.Type.Decision() {
				return true
			}
		}
		return false
	}
	final := func(id string) bool {
		e := obs.expected(id, all)
		return len(e) > 0 && (e[len(e)-1] == "completed" || e[len(e)-1] == "Failed")
	}
	waitUntil(t, "amdd sent long's decision and short's final status", 30*time.Second, func() bool {
		return decided(long) && final(short)
	})
	if final(long) {
		t.Fatal("the long call ended before the kill; the test would not cover a live call")
	}
	time.Sleep(200 * time.Millisecond) // on the wire to amdgw, or in its hands
	p.kill()
	release()
	// The proof that the kill hit events in flight: nothing amdd sent after
	// the lock was stored.
	for id, n := range atLock {
		if got := stored(id); got != n {
			t.Fatalf("%s: %d notifications stored at the kill, %d at the lock: the lock did not hold", id, got, n)
		}
		if n >= len(obs.expected(id, all)) {
			t.Fatalf("%s: everything amdd sent was stored before the kill; the test proves nothing", id)
		}
	}
	st.Close()
	t.Logf("killed with %d/%d (short) and %d/%d (long, still up) notifications stored", atLock[short], len(obs.expected(short, all)),
		atLock[long], len(obs.expected(long, all)))

	restart := time.Now()
	startProc(t, bin, addr, args...)
	// short ended while amdgw was dead: the replay resolves it at once.
	waitFor := func(id string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got, want := distinct(snk.forCall(id)), obs.expected(id, all)
			if final(id) && strings.Join(got, " ") == strings.Join(want, " ") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: delivered %v, amdd said %v", id, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(short, 10*time.Second)
	t.Logf("ended call resolved %v after the restart", time.Since(restart).Round(time.Millisecond))
	waitFor(long, 30*time.Second)

	for _, id := range []string{short, long} {
		bodies := map[string]string{}
		owed := len(obs.expected(id, all))
		for _, n := range snk.forCall(id) {
			if n.SigErr != nil {
				t.Fatalf("%s: signature: %v", id, n.SigErr)
			}
			seq, err := strconv.Atoi(strings.TrimPrefix(n.Key, id+"."))
			if err != nil || seq < 1 || seq > owed {
				t.Fatalf("%s: idempotency key %q outside %s.1..%d", id, n.Key, id, owed)
			}
			if b, ok := bodies[n.Key]; ok && b != n.Raw {
				t.Fatalf("%s: key %s sent with two bodies", id, n.Key)
			}
			bodies[n.Key] = n.Raw
		}
		if len(bodies) != owed {
			t.Fatalf("%s: %d keys for %d notifications", id, len(bodies), owed)
		}
		if s := statusOf(t, addr, token, id); s == "Failed" || s == "" {
			t.Fatalf("%s: interaction status %q", id, s)
		}
	}
}

// distinct lists the statuses of the first delivery of each key, in order
// (a notification redelivered after the kill counts once).
func distinct(notes []gotNote) []string {
	seen := map[string]bool{}
	var out []gotNote
	for _, n := range notes {
		if !seen[n.Key] {
			seen[n.Key] = true
			out = append(out, n)
		}
	}
	return statuses(out)
}

// statusOf reads a call's interaction status from amdgw's API.
func statusOf(t *testing.T, addr, token, id string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/1.1/public/bot/b/interactions/"+id, nil)
	req.Header.Set("auth", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Status
}
