package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amd-engine/amd/analysis"
	"github.com/amd-engine/amd/daemon"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// loadCorpus writes a small labelled corpus for the load tests: short G.711
// and PCM clips (clean speech; no-speech clips are noise by nature) of each label that the detector calls right offline (so a
// live miss is the live path's fault, not the detector's), linked into a
// temp dir with their own manifest.
func loadCorpus(t *testing.T, perLabel int) string {
	t.Helper()
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lines []string
	got := map[string]int{}
	for _, c := range clips {
		// No-speech clips are all noise of some kind, and longer.
		short, clean := c.DurationMs <= 6000, c.Noise == fixtures.NoiseNone
		if c.Label == fixtures.LabelNoSpeech {
			short, clean = c.DurationMs <= 8500, true
		}
		if got[c.Label] >= perLabel || !short || !clean ||
			(c.Channel != fixtures.ChannelULaw && c.Channel != fixtures.ChannelPCM && c.Channel != fixtures.ChannelALaw) {
			continue
		}
		res, err := analysis.File(fixtures.ClipPath(c), engine.Config{}, false)
		if err != nil {
			t.Fatal(err)
		}
		d, ok := res.Decision()
		want := map[string]engine.EventType{fixtures.LabelHuman: engine.EventHumanDetected,
			fixtures.LabelMachine: engine.EventMachineDetected, fixtures.LabelNoSpeech: engine.EventNoSpeechDetected}[c.Label]
		if !ok || d.Type != want {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(c.File))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(fixtures.ClipPath(c), dst); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		lines = append(lines, string(b))
		got[c.Label]++
	}
	for _, l := range []string{fixtures.LabelHuman, fixtures.LabelMachine, fixtures.LabelNoSpeech} {
		if got[l] == 0 {
			t.Fatalf("no short clean %s clip the detector gets right offline", l)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, fixtures.ManifestName), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startLoadEngine runs amdd's service in-process on loopback.
func startLoadEngine(t *testing.T, maxCalls, rtpLo int) *daemon.Service {
	t.Helper()
	svc, err := daemon.NewService(daemon.ServiceConfig{
		SIP: sip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: rtpLo, RTPPortMax: rtpLo + 398,
			MediaTimeout: 3 * time.Second, PortDrain: 100 * time.Millisecond},
		ControlListen: "127.0.0.1:0",
		Manager:       daemon.Config{MaxCalls: maxCalls, MediaTimeout: 3 * time.Second, HangupTimeout: 3 * time.Second},
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return svc
}

type loadJSON struct {
	Calls            *int     `json:"calls"`
	Answered         *int     `json:"answered"`
	Decided          *int     `json:"decided"`
	Correct          *int     `json:"correct"`
	RTPSent          *int64   `json:"rtpSent"`
	RTPLostAtEngine  *int64   `json:"rtpLostAtEngine"`
	EventLagP50Ms    *float64 `json:"eventLagP50Ms"`
	EventLagP99Ms    *float64 `json:"eventLagP99Ms"`
	EngineCPUPercent *float64 `json:"engineCpuPercent"`
	EngineRSSMiB     *float64 `json:"engineRssMiB"`
	RSSPerCallKiB    *float64 `json:"rssPerCallKiB"`
	DurationS        *float64 `json:"durationS"`
	Refused          int      `json:"refused"`
	Wrong            []string `json:"wrong"`
	Warnings         []string `json:"warnings"`
}

func runLoadJSON(t *testing.T, args ...string) (loadJSON, string) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := runLoad(append(args, "--json"), &out, &errb)
	if rc != 0 {
		t.Fatalf("amdctl load exited %d\nstdout: %s\nstderr: %s", rc, out.String(), errb.String())
	}
	var r loadJSON
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	return r, out.String()
}

// TestLoadSmoke is `make test`'s check of the load generator: 20 calls, 10
// at a time, against a real amdd service on loopback. Every contract field
// is present, every call is answered and decided correctly, nothing is lost.
func TestLoadSmoke(t *testing.T) {
	// The check runs after the group, i.e. after the parallel subtests and
	// their engines' shutdowns.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := loadCorpus(t, 2)
	t.Run("group", func(t *testing.T) { loadSmokeCases(t, dir) })
}

func loadSmokeCases(t *testing.T, dir string) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"g711", func(t *testing.T) {
			svc := startLoadEngine(t, 100, 36000)
			r, raw := runLoadJSON(t, "--engine", svc.ControlURL(), "--calls", "20", "--concurrency", "10",
				"--audio", dir, "--sip-listen", "127.0.0.1:0", "--max-duration", "50s", "--ring-ms", "20")
			t.Logf("%s", raw)
			fields := map[string]bool{"calls": r.Calls != nil, "answered": r.Answered != nil, "decided": r.Decided != nil,
				"correct": r.Correct != nil, "rtpSent": r.RTPSent != nil, "rtpLostAtEngine": r.RTPLostAtEngine != nil,
				"eventLagP50Ms": r.EventLagP50Ms != nil, "eventLagP99Ms": r.EventLagP99Ms != nil,
				"engineCpuPercent": r.EngineCPUPercent != nil, "engineRssMiB": r.EngineRSSMiB != nil,
				"rssPerCallKiB": r.RSSPerCallKiB != nil, "durationS": r.DurationS != nil}
			for f, ok := range fields {
				if !ok {
					t.Errorf("JSON lacks %q", f)
				}
			}
			if t.Failed() {
				return
			}
			if *r.Calls != 20 || *r.Answered != 20 || *r.Decided != 20 || *r.Correct != 20 {
				t.Errorf("calls %d answered %d decided %d correct %d, want 20 each (wrong: %v)", *r.Calls, *r.Answered, *r.Decided, *r.Correct, r.Wrong)
			}
			if *r.RTPLostAtEngine != 0 || *r.RTPSent < 20*50 {
				t.Errorf("rtp sent %d lost %d: want ≥ 1000 sent (20 calls of ≥ 1 s) and none lost", *r.RTPSent, *r.RTPLostAtEngine)
			}
			// The engine runs in this test process, found from its control
			// port: its figures must have been measured.
			if *r.EngineCPUPercent <= 0 || *r.EngineRSSMiB <= 0 || *r.RSSPerCallKiB == -1 {
				t.Errorf("engine figures not measured: cpu %v rss %v perCall %v (%v)", *r.EngineCPUPercent, *r.EngineRSSMiB, *r.RSSPerCallKiB, r.Warnings)
			}
			if *r.EventLagP50Ms < 0 || *r.EventLagP99Ms < *r.EventLagP50Ms || *r.EventLagP99Ms > 5000 {
				t.Errorf("event lag p50 %v p99 %v ms: want 0 ≤ p50 ≤ p99 < 5 s", *r.EventLagP50Ms, *r.EventLagP99Ms)
			}
			if *r.DurationS <= 0 || *r.DurationS > 55 {
				t.Errorf("durationS %v", *r.DurationS)
			}
		}},
		// Above amdd's max calls the engine refuses dials with at_capacity;
		// the generator counts them and the calls already up are unharmed.
		{"at_capacity", func(t *testing.T) {
			svc := startLoadEngine(t, 4, 36400)
			r, raw := runLoadJSON(t, "--engine", svc.ControlURL(), "--calls", "8", "--concurrency", "8",
				"--audio", dir, "--sip-listen", "127.0.0.1:0", "--max-duration", "50s", "--ring-ms", "20", "--engine-pid", "-1")
			t.Logf("%s", raw)
			if r.Refused != 4 || *r.Answered != 4 || *r.Decided != 4 || *r.Correct != 4 || *r.RTPLostAtEngine != 0 {
				t.Errorf("refused %d answered %d decided %d correct %d lost %d: want 4 refused and 4 calls decided right with no loss",
					r.Refused, *r.Answered, *r.Decided, *r.Correct, *r.RTPLostAtEngine)
			}
			if *r.EngineCPUPercent != -1 {
				t.Errorf("engineCpuPercent %v with --engine-pid -1, want -1 (not measured)", *r.EngineCPUPercent)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

// TestLoadRefusesNonLoopback: the generator never aims at a real engine or
// a public SIP address.
func TestLoadRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--engine", "ws://10.1.2.3:8081/v1/control"},
		{"--engine", "ws://amdd.example.com:8081/v1/control"},
		{"--sip-listen", "0.0.0.0:5070"},
		{"--engine-metrics", "http://192.0.2.1/metrics"},
	} {
		var out, errb bytes.Buffer
		rc := runLoad(append(args, "--audio", t.TempDir(), "--calls", "1"), &out, &errb)
		if rc != 2 || !strings.Contains(errb.String(), "loopback") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a loopback error", args, rc, errb.String())
		}
	}
}
