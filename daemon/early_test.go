package daemon

import (
	"testing"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/engine/enginetest"
)

// sitThenSilence is a carrier intercept as it sounds in early media: the
// three SIT segments (ITU-T E.180 / Telcordia), then the start of the
// announcement's silence.
func sitThenSilence() []int16 {
	return enginetest.New(7, 120).Silence(400).
		Tone(913.8, 274, -14).Tone(1370.6, 274, -14).Tone(1776.7, 380, -14).
		Silence(1500).Render(enginetest.NoiseWhite, -60)
}

// ringback is the 440+480 Hz cadence (approximated by its 440 Hz part) that
// must never be reported: it is a tone, but not an information tone.
func ringback() []int16 {
	c := enginetest.New(9, 120)
	for i := 0; i < 2; i++ {
		c.Tone(440, 2000, -16).Silence(1000)
	}
	return c.Render(enginetest.NoiseWhite, -60)
}

func TestEarlyMediaSIT(t *testing.T) {
	tests := []struct {
		name    string
		mode    engine.Mode
		audio   []int16
		want    string
		hangups int32
	}{
		{"detect reports SIT, call goes on", engine.ModeDetect, sitThenSilence(), "trying ringing amd_tone_detected failed/Failed", 0},
		{"disconnect cancels on SIT", engine.ModeDisconnect, sitThenSilence(), "trying ringing amd_tone_detected failed/Failed", 1},
		{"ringback is not reported", engine.ModeDetect, ringback(), "trying ringing failed/Failed", 0},
		{"disabled runs no check", engine.ModeDisabled, sitThenSilence(), "trying ringing failed/Failed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			media := &fakeMedia{samples: tc.audio}
			media.frames.Store(int64(len(tc.audio) / 160))
			env := newEnv(t, Config{}, func(DialRequest) *fakeCall { return newFakeCall(media) }, nil, 0)
			id := env.dial(t, control.Dial{MachineDetection: tc.mode})
			c := env.d.get(id)
			c.progress <- Progress{Kind: ProgressEarlyMedia}
			// Let the early media play out, then the network gives up (unless we hung up first).
			deadline := time.Now().Add(5 * time.Second)
			for media.frames.Load() > 0 && c.hangups.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if c.hangups.Load() == 0 {
				c.progress <- Progress{Kind: ProgressFailed, Err: errBusy}
			}
			msgs := env.rec.waitFinal(t, id, 5*time.Second)
			if got := summary(msgs); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if got := c.hangups.Load(); got != tc.hangups {
				t.Errorf("hangups %d, want %d", got, tc.hangups)
			}
			for _, m := range msgs {
				if a, ok := m.(*control.AMDEvent); ok {
					if a.ToneKind != engine.ToneSIT || a.Reason != engine.ReasonSIT || a.Seq != 1 || a.ToneFrequencyHz < 1700 {
						t.Errorf("SIT event %+v", a.Event)
					}
				}
			}
			if tc.hangups == 1 {
				if f := finalOf(msgs); f.ReasonCode != "SIT" {
					t.Errorf("final %+v", f)
				}
			}
		})
	}
}
