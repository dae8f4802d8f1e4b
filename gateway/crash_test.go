package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/store"
)

// buildAmdgw builds cmd/amdgw once per test binary run.
var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func buildAmdgw(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "amdgw-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "amdgw")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", buildPath, "../cmd/amdgw")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// gwProc is an amdgw subprocess.
type gwProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
	logs *strings.Builder
	mu   *sync.Mutex
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startProc(t *testing.T, bin, addr string, args ...string) *gwProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--listen", addr, "--jwt-secret", testJWTSecret, "--signing-secret", testSignSecret,
		"--log-level", "debug"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &gwProc{cmd: cmd, addr: addr, done: make(chan struct{}), logs: &strings.Builder{}, mu: &sync.Mutex{}}
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
	t.Cleanup(func() { p.kill() })
	waitUntil(t, "amdgw healthz", 20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// kill sends SIGKILL: no shutdown code of amdgw runs.
func (p *gwProc) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func (p *gwProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// TestKill9MidDelivery: amdgw (a real subprocess) is killed with SIGKILL
// while notifications are being delivered to a slow receiver that was down
// at first; after a restart on the same database every notification of
// every call arrives, in order per call, each under its own stable
// idempotency key, and a call left open by the crash is resolved (Failed
// with amd_error) instead of hanging.
func TestKill9MidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a subprocess")
	}
	bin := buildAmdgw(t)
	eng := newFakeEngine(t)
	snk := newSink(t)
	var mu sync.Mutex
	down := true
	snk.code = func(n gotNote) int {
		mu.Lock()
		d := down
		mu.Unlock()
		if d {
			return http.StatusServiceUnavailable
		}
		time.Sleep(60 * time.Millisecond) // slow receiver: kills land mid-POST
		return http.StatusOK
	}
	db := filepath.Join(t.TempDir(), "gw.db")
	addr := freeAddr(t)
	args := []string{"--engine", eng.url(), "--db", db, "--notify-base-backoff", "50ms", "--notify-max-backoff", "200ms",
		"--engine-loss-timeout", "1500ms"}
	p := startProc(t, bin, addr, args...)
	token, _ := auth.Mint([]byte(testJWTSecret), "app-1", time.Hour, time.Now())
	dial := func(target string) string {
		t.Helper()
		body := fmt.Sprintf(`{"target":%q,"caller":"+1555","notifyurl":%q,"notifyHeaders":{"X-Tenant":"acme"}}`, target, snk.srv.URL)
		var res struct{ CallID string }
		// 503 until the subprocess's engine link is up.
		waitUntil(t, "dialout accepted", 10*time.Second, func() bool {
			req, _ := http.NewRequest("POST", "http://"+addr+"/api/1.1/public/bot/bot-1/smartassist/dialout", strings.NewReader(body))
			req.Header.Set("auth", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return false
			}
			if err := jsonDecode(resp, &res); err != nil || resp.StatusCode != 200 || res.CallID == "" {
				t.Fatalf("dialout: %d %v", resp.StatusCode, err)
			}
			return true
		})
		return res.CallID
	}
	var ids []string
	for range 4 {
		ids = append(ids, dial("sip:human@x.y"))
	}
	silent := dial("sip:silent@x.y")

	// Receiver down: attempts pile up as retries.
	waitUntil(t, "retries while the receiver is down", 10*time.Second, func() bool { return len(snk.forCall(ids[0])) >= 2 })
	mu.Lock()
	down = false
	mu.Unlock()
	// Kill in the middle of delivery: some delivered, some not.
	waitUntil(t, "first deliveries", 10*time.Second, func() bool { return delivered(snk, ids) >= 3 })
	p.kill()
	before := delivered(snk, ids)
	t.Logf("killed after %d of %d notifications acknowledged", before, 4*len(ids))
	if before >= 4*len(ids) {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}

	// The engine lost the silent call meanwhile (as if it had restarted):
	// its re-subscribe gets unknown_call. The human calls, stored before
	// the kill, are not open and not asked about.
	eng.forgetCall(silent)
	p = startProc(t, bin, addr, args...)
	waitUntil(t, "all notifications after restart", 30*time.Second, func() bool { return delivered(snk, ids) == 4*len(ids) })
	for _, id := range ids {
		notes := snk.forCall(id)
		checkDelivery(t, id, notes, []string{"Answered", "Call-In-Progress/amd_human_detected", "Call-In-Progress/amd_stopped", "completed"})
	}
	// The silent call was open at the crash and its engine no longer knows
	// it: resolved as lost instead of hanging.
	waitUntil(t, "silent call resolved", 20*time.Second, func() bool {
		return okStatuses(snk.forCall(silent)) == "[Answered Call-In-Progress/amd_error Failed]"
	})
	checkDelivery(t, silent, snk.forCall(silent), []string{"Answered", "Call-In-Progress/amd_error", "Failed"})
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The receiver's 200 comes before amdgw records it: wait for the
	// records (read alongside the running process, WAL) before the last kill.
	undelivered := func() []string {
		var out []string
		for _, id := range append(ids, silent) {
			notes, _ := st.Notifications(context.Background(), id)
			for _, n := range notes {
				if n.State != store.DeliveryDelivered {
					out = append(out, n.Key+" is "+n.State)
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(undelivered()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	for _, u := range undelivered() {
		t.Errorf("%s", u)
	}
	if t.Failed() {
		t.Log(p.log())
	}
}

// delivered counts distinct idempotency keys acknowledged with 200.
func delivered(s *sink, ids []string) int {
	n := 0
	for _, id := range ids {
		keys := map[string]bool{}
		for _, g := range s.forCall(id) {
			if g.status == 200 {
				keys[g.Key] = true
			}
		}
		n += len(keys)
	}
	return n
}

// okStatuses lists the statuses of the first 200 of each key, in order.
func okStatuses(notes []gotNote) string {
	seen := map[string]bool{}
	var ok []gotNote
	for _, n := range notes {
		if n.status == 200 && !seen[n.Key] {
			seen[n.Key] = true
			ok = append(ok, n)
		}
	}
	return fmt.Sprint(statuses(ok))
}

// checkDelivery: every retry of a key carries the same body, keys are
// <callId>.<seq>, valid signatures, and the acknowledged order is want.
func checkDelivery(t *testing.T, id string, notes []gotNote, want []string) {
	t.Helper()
	bodies := map[string]string{}
	for _, n := range notes {
		if n.SigErr != nil {
			t.Fatalf("%s: signature: %v", id, n.SigErr)
		}
		if n.Header.Get("X-Tenant") != "acme" {
			t.Fatalf("%s: notifyHeaders lost", id)
		}
		if !strings.HasPrefix(n.Key, id+".") {
			t.Fatalf("%s: key %q", id, n.Key)
		}
		if b, ok := bodies[n.Key]; ok && b != n.Raw {
			t.Fatalf("%s: key %s sent with two bodies", id, n.Key)
		}
		bodies[n.Key] = n.Raw
	}
	if got := okStatuses(notes); got != fmt.Sprint(want) {
		t.Fatalf("%s: acknowledged %s, want %v", id, got, want)
	}
	// In order: no notification was even attempted before the previous
	// one's acknowledgement.
	acked := map[string]time.Time{}
	for _, n := range notes {
		if n.status == 200 {
			if _, ok := acked[n.Key]; !ok {
				acked[n.Key] = n.Arrived
			}
		}
	}
	for _, n := range notes {
		var seq int
		fmt.Sscanf(strings.TrimPrefix(n.Key, id+"."), "%d", &seq)
		if seq > 1 {
			prev := fmt.Sprintf("%s.%d", id, seq-1)
			if a, ok := acked[prev]; !ok || n.Arrived.Before(a) {
				t.Fatalf("%s: %s sent before %s was acknowledged", id, n.Key, prev)
			}
		}
	}
}
