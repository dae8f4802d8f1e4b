package daemon

// End-to-end tests with the project's own SIP test phone as the callee:
// Opus media, and early media carrying a special information tone.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
	"github.com/amd-engine/amd/internal/sipptest"
	"github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/sip/testphone"
	"github.com/rs/zerolog"
)

// startPhone runs a test phone serving the WAV files of dir.
func startPhone(t *testing.T, dir string) *testphone.Phone {
	t.Helper()
	p, err := testphone.New(testphone.Config{ListenAddr: "127.0.0.1:0", Audio: dir, RingDelay: 150 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatalf("test phone: %v", err)
	}
	// The phone serves until Close; its Start context must outlive the test body.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("test phone start: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// pcm16WAV converts src to a 16-bit PCM 8 kHz mono WAV named name.wav in dir.
func pcm16WAV(t *testing.T, src, dir, name string) {
	t.Helper()
	out := filepath.Join(dir, name+".wav")
	if b, err := exec.Command("sox", src, "-r", "8000", "-c", "1", "-e", "signed", "-b", "16", out).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, b)
	}
}

// TestE2ECodecsViaTestPhone: the same human greeting over each codec the
// engine decodes reaches the same verdict.
func TestE2ECodecsViaTestPhone(t *testing.T) {
	t.Parallel()
	wav, clip := sipptest.CorpusClip(t, "human", engine.EventHumanDetected, func(c fixtures.Clip) bool { return c.Noise == "none" })
	dir := t.TempDir()
	pcm16WAV(t, wav, dir, "greeting")
	phone := startPhone(t, dir)
	svc := startService(t, nil)
	for _, codec := range []sip.Codec{sip.CodecOpus, sip.CodecPCMA, sip.CodecPCMU} {
		t.Run(string(codec), func(t *testing.T) {
			t.Parallel()
			c := connectClient(t, svc.url, "")
			id := dialCall(t, c, control.Dial{
				Target: fmt.Sprintf("sip:greeting@%s;codec=%s", phone.Addr(), codec),
				Codecs: []string{string(codec)},
			})
			msgs := watch(t, c, id, 45*time.Second, func(in control.Incoming) {
				// The application has its answer and hangs up (after a human
				// verdict the detector would go on listening for a late beep).
				if in.AMD != nil && in.AMD.Event.Type == engine.EventHumanDetected {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := c.Hangup(ctx, id); err != nil {
						t.Errorf("hangup: %v", err)
					}
				}
			})
			t.Logf("clip %s over %s: %s", clip.File, codec, render(msgs))
			evs := amdEvents(msgs)
			if len(evs) == 0 || evs[0] != engine.EventHumanDetected {
				t.Fatalf("events %v, want amd_human_detected", evs)
			}
			if f := final(t, msgs); f.Status != call.StatusCompleted || f.EndReason != call.EndBotDisconnected {
				t.Fatalf("final %+v", f)
			}
			// The phone must have sent this codec, and received our BYE.
			var rec *testphone.CallRecord
			for deadline := time.Now().Add(5 * time.Second); rec == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				for _, r := range phone.Records() {
					if r.Codec == codec {
						r := r
						rec = &r
					}
				}
			}
			if rec == nil || !rec.RemoteBye || rec.Packets == 0 {
				t.Fatalf("phone record %+v (all: %+v), want a %s call ended by our BYE", rec, phone.Records(), codec)
			}
		})
	}
}

// TestE2EEarlyMediaSIT: a carrier intercept — SIT in early media, then a
// 404 — is reported as amd_tone_detected (sit) before the failure.
func TestE2EEarlyMediaSIT(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox not installed")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "sit.raw")
	pcm := sitThenSilence()
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	if err := os.WriteFile(raw, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sox", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", raw, filepath.Join(dir, "intercept.wav")).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	phone := startPhone(t, dir)
	svc := startService(t, nil)
	c := connectClient(t, svc.url, "")
	id := dialCall(t, c, control.Dial{Target: fmt.Sprintf("sip:intercept@%s;early=1;reject=404", phone.Addr())})
	msgs := watch(t, c, id, 30*time.Second, nil)
	t.Logf("%s", render(msgs))
	evs := amdEvents(msgs)
	if len(evs) != 1 || evs[0] != engine.EventToneDetected {
		t.Fatalf("events %v, want one amd_tone_detected", evs)
	}
	for _, in := range msgs {
		if in.AMD != nil && in.AMD.ToneKind != engine.ToneSIT {
			t.Errorf("tone kind %q, want sit", in.AMD.ToneKind)
		}
	}
	f := final(t, msgs)
	if f.Status != call.StatusFailed || f.ReasonCode != "Not Found" || f.EndReason != call.EndFailed {
		t.Fatalf("final %+v, want failed 404", f)
	}
}
