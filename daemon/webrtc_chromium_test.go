package daemon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// chromiumPath finds a Chromium; the Makefile's deps target installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium binary (make deps installs it)")
	return ""
}

// fakeMic converts a corpus clip into what Chromium's fake capture plays
// best (16-bit PCM, 48 kHz, mono), with 1.5 s of silence in front: the
// capture starts playing at getUserMedia, before ICE and DTLS are up, and
// the greeting must not start before the engine can hear it.
func fakeMic(t *testing.T, clip fixtures.Clip) string {
	t.Helper()
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("no sox binary (make deps installs it)")
	}
	out := filepath.Join(t.TempDir(), "mic.wav")
	cmd := exec.Command(sox, "-G", fixtures.ClipPath(clip), "-r", "48000", "-b", "16", "-c", "1", "-e", "signed-integer", out, "pad", "1.5", "0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, b)
	}
	return out
}

// pageServer serves examples/whip.html from another origin than amdd
// (so CORS is exercised) and collects the page's log lines.
type pageServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	lines []string
	got   chan string
}

func newPageServer(t *testing.T) *pageServer {
	t.Helper()
	page, err := os.ReadFile("../examples/whip.html")
	if err != nil {
		t.Fatalf("example page: %v", err)
	}
	ps := &pageServer{got: make(chan string, 256)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whip.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		ps.mu.Lock()
		ps.lines = append(ps.lines, string(b))
		ps.mu.Unlock()
		select {
		case ps.got <- string(b):
		default:
		}
		// The page posts cross-origin without preflight (text/plain).
		w.Header().Set("Access-Control-Allow-Origin", "*")
	})
	ps.srv = httptest.NewServer(mux)
	t.Cleanup(ps.srv.Close)
	return ps
}

func (ps *pageServer) log() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return strings.Join(ps.lines, "\n")
}

// waitLine waits for a page log line with the prefix.
func (ps *pageServer) waitLine(ctx context.Context, prefix string) (string, error) {
	ps.mu.Lock()
	for _, l := range ps.lines {
		if strings.HasPrefix(l, prefix) {
			ps.mu.Unlock()
			return l, nil
		}
	}
	ps.mu.Unlock()
	for {
		select {
		case l := <-ps.got:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-ctx.Done():
			return "", fmt.Errorf("no page line %q: %w", prefix, ctx.Err())
		}
	}
}

// startChromium runs headless Chromium on the page with the WAV as its
// microphone, until the test ends. --remote-debugging-port keeps the
// browser alive after the page loaded (nothing else would).
func startChromium(t *testing.T, bin, wav, pageURL string) {
	t.Helper()
	profile := t.TempDir()
	args := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu",
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		"--use-file-for-fake-audio-capture=" + wav,
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
		"--allow-loopback-in-peer-connection",
		"--user-data-dir=" + profile, "--remote-debugging-port=0",
		pageURL,
	}
	cmd := exec.Command(bin, args...)
	// Its own process group: Chromium forks renderer, zygote and utility
	// processes, and all of them must be gone before the profile directory
	// is removed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	var tailMu sync.Mutex
	var tail []string
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			tailMu.Lock()
			if tail = append(tail, sc.Text()); len(tail) > 40 {
				tail = tail[1:]
			}
			tailMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		exited := make(chan struct{})
		go func() {
			<-drained
			_ = cmd.Wait()
			close(exited)
		}()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// Children that outlived the browser go with the group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if t.Failed() {
			tailMu.Lock()
			t.Logf("chromium stderr (tail):\n%s", strings.Join(tail, "\n"))
			tailMu.Unlock()
		}
	})
}

// TestWebRTCChromiumWHIP publishes a corpus clip from headless Chromium's
// fake microphone through examples/whip.html (WHIP with a bearer token,
// CORS from another origin, control channel with ?token=) and checks the
// engine's verdict, the leg, and that the events carry the call ID of the
// WHIP Location. Then DELETE ends the session and a second DELETE is 404.
func TestWebRTCChromiumWHIP(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bin := chromiumPath(t)
	const token = "browser-test-token"
	for _, tc := range []struct {
		category string
		want     []engine.EventType
	}{
		{"voicemail_beep", []engine.EventType{engine.EventMachineDetected, engine.EventToneDetected}},
		{"human_short", []engine.EventType{engine.EventHumanDetected}},
	} {
		t.Run(tc.category, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			clip := webrtcClip(t, tc.category)
			wav := fakeMic(t, clip)
			svc := startService(t, func(c *ServiceConfig) {
				c.WebRTC = WebRTCConfig{UDPListen: "127.0.0.1:0", ConnectTimeout: 10 * time.Second}
				c.ControlToken = token
			})
			watcher, err := control.Connect(ctx, svc.url, token)
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			if err := watcher.Subscribe(ctx, ""); err != nil {
				t.Fatal(err)
			}
			engineURL := "http://" + svc.svc.ControlAddr().String()
			ps := newPageServer(t)
			q := url.Values{"engine": {engineURL}, "token": {token}, "autostart": {"1"}, "report": {ps.srv.URL + "/report"}}
			startChromium(t, bin, wav, ps.srv.URL+"/whip.html?"+q.Encode())

			locLine, err := ps.waitLine(ctx, "location ")
			if err != nil {
				t.Fatalf("%v; page log:\n%s", err, ps.log())
			}
			loc := strings.TrimPrefix(locLine, "location ")
			id, ok := strings.CutPrefix(loc, "/v1/whip/")
			if !ok || id == "" {
				t.Fatalf("Location %q", loc)
			}
			ce := collect(t, ctx, watcher, id, func(ce *callEvents) bool {
				for _, w := range tc.want {
					if !ce.has(w) {
						return ce.has(engine.EventStopped)
					}
				}
				return true
			})
			t.Logf("%s via chromium: %v", clip.File, ce)
			for _, w := range tc.want {
				if !ce.has(w) {
					t.Errorf("%s: no %s; got %v\npage log:\n%s", clip.File, w, ce, ps.log())
				}
			}
			for _, e := range ce.amd {
				if e.CallID != id {
					t.Errorf("event for %q, Location says %q", e.CallID, id)
				}
			}
			// The page watched its call over the control channel with ?token=.
			if _, err := ps.waitLine(ctx, `{"v":1,"type":"amd.event"`); err != nil {
				t.Errorf("the page saw no amd.event over its WebSocket: %v\npage log:\n%s", err, ps.log())
			}

			del := func() int {
				req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, engineURL+loc, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			if st := del(); st != http.StatusOK {
				t.Fatalf("DELETE %s: %d", loc, st)
			}
			ce2 := collect(t, ctx, watcher, id, func(*callEvents) bool { return false })
			if fin := ce2.final(); fin.Status != call.StatusCompleted || fin.EndReason != call.EndBotDisconnected {
				t.Errorf("after DELETE: %v, want completed / Bot-disconnected", ce2)
			}
			if st := del(); st != http.StatusNotFound {
				t.Errorf("second DELETE %s: %d, want 404", loc, st)
			}
		})
	}
}
