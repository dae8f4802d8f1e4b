package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/daemon"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// oneClipDir is a corpus of one long clip, so calls outlast the test's bounds.
func oneClipDir(t *testing.T) string {
	t.Helper()
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	var pick *fixtures.Clip
	for i, c := range clips {
		if c.Label == fixtures.LabelMachine && c.DurationMs >= 8000 && (c.Channel == fixtures.ChannelULaw || c.Channel == fixtures.ChannelPCM) {
			pick = &clips[i]
			break
		}
	}
	if pick == nil {
		t.Fatal("no long G.711/PCM machine clip in the corpus")
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, filepath.FromSlash(pick.File))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fixtures.ClipPath(*pick), dst); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pick)
	if err := os.WriteFile(filepath.Join(dir, fixtures.ManifestName), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startEngine(t *testing.T, rtpLo int) *daemon.Service {
	t.Helper()
	svc, err := daemon.NewService(daemon.ServiceConfig{
		SIP: sip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: rtpLo, RTPPortMax: rtpLo + 198,
			MediaTimeout: 3 * time.Second, PortDrain: 100 * time.Millisecond},
		ControlListen: "127.0.0.1:0",
		Manager:       daemon.Config{MediaTimeout: 3 * time.Second, HangupTimeout: 2 * time.Second},
		Log:           zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestRunBounds: a run ends by itself when its time bound passes (calls
// hung up, partial result, ErrMaxDuration) and when the engine goes away
// mid-run (an error, not a hang); either way nothing is left running.
func TestRunBounds(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := oneClipDir(t)
	t.Run("max duration", func(t *testing.T) {
		svc := startEngine(t, 37000)
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			svc.Shutdown(ctx)
		}()
		t0 := time.Now()
		res, err := Run(context.Background(), Config{EngineURL: svc.ControlURL(), Calls: 6, Concurrency: 3, Audio: dir,
			SIPListen: "127.0.0.1:0", MaxDuration: 2 * time.Second, RingDelay: 10 * time.Millisecond, EnginePID: -1})
		if !errors.Is(err, ErrMaxDuration) {
			t.Fatalf("err %v, want ErrMaxDuration", err)
		}
		// Ends once the hung-up calls have ended, not after the 10 s drain.
		if d := time.Since(t0); d > 8*time.Second {
			t.Errorf("run took %v past a 2 s bound", d)
		}
		// Only the first wave got through; it was hung up, not left up.
		t.Logf("%+v", res)
		if res.Calls != 6 || res.Answered == 0 || res.Answered > 3 || res.RTPSent == 0 {
			t.Errorf("partial result %+v: want ≤ 3 calls answered, media sent", res)
		}
	})
	t.Run("engine lost", func(t *testing.T) {
		svc := startEngine(t, 37200)
		go func() {
			time.Sleep(1500 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			svc.Shutdown(ctx)
		}()
		t0 := time.Now()
		_, err := Run(context.Background(), Config{EngineURL: svc.ControlURL(), Calls: 6, Concurrency: 3, Audio: dir,
			SIPListen: "127.0.0.1:0", MaxDuration: time.Minute, RingDelay: 10 * time.Millisecond, EnginePID: -1})
		if err == nil {
			t.Fatal("run against an engine that shut down mid-run reported success")
		}
		if d := time.Since(t0); d > 30*time.Second {
			t.Errorf("run took %v after the engine went away", d)
		}
		t.Logf("engine lost after 1.5 s: %v", err)
	})
}
