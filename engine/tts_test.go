package engine_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/engine/enginetest"
)

// tts renders text with espeak-ng and converts it with sox to 8 kHz mono
// 16-bit samples; it skips the test when either tool is absent.
func tts(t *testing.T, text, voice string, wpm int) []int16 {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	wav, raw := filepath.Join(dir, "x.wav"), filepath.Join(dir, "x.raw")
	if out, err := exec.CommandContext(ctx, "espeak-ng", "-v", voice, "-s", itoa(wpm), "-w", wav, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "sox", wav, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", raw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return trimSilence(pcm)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// trimSilence cuts espeak's own leading and trailing silence so the test
// knows exactly where speech starts and ends.
func trimSilence(x []int16) []int16 {
	const thr = 300
	lo, hi := 0, len(x)
	for lo < hi && x[lo] < thr && x[lo] > -thr {
		lo++
	}
	for hi > lo && x[hi-1] < thr && x[hi-1] > -thr {
		hi--
	}
	return x[lo:hi]
}

// callFrom places speech between lead and tail milliseconds of silence, adds
// a beep after it when beepGapMs ≥ 0, and mixes pink noise at noiseDBFS.
func callFrom(speech []int16, leadMs, tailMs, beepGapMs int, noiseDBFS float64, seed uint64) (pcm []int16, speechEndMs int64) {
	ms := func(n int) int { return n * dsp.SampleRate / 1000 }
	pcm = append(pcm, make([]int16, ms(leadMs))...)
	pcm = append(pcm, speech...)
	speechEndMs = int64(len(pcm)) * 1000 / dsp.SampleRate
	if beepGapMs >= 0 {
		pcm = append(pcm, make([]int16, ms(beepGapMs))...)
		pcm = append(pcm, enginetest.New(seed, 100).Tone(1000, 450, -18).Render(enginetest.NoiseNone, 0)...)
	}
	pcm = append(pcm, make([]int16, ms(tailMs))...)
	noise := enginetest.MakeNoise(rand.New(rand.NewPCG(seed, 3)), enginetest.NoisePink, len(pcm), noiseDBFS)
	for i := range pcm {
		v := float64(pcm[i]) + noise[i]*32767
		pcm[i] = int16(max(-32768, min(32767, v)))
	}
	return pcm, speechEndMs
}

// TestDetectorRealTTS runs the detector on real synthetic speech (espeak-ng,
// several voices and rates) rather than the test's own formant synthesis.
func TestDetectorRealTTS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text   string
		voice  string
		wpm    int
		beep   int // beep gap after the speech, −1 for none
		want   engine.EventType
		reason engine.Reason
	}{
		{"Hello?", "en-us", 160, -1, engine.EventHumanDetected, engine.ReasonShortGreeting},
		{"Hi, this is Dave.", "en-gb", 175, -1, engine.EventHumanDetected, engine.ReasonShortGreeting},
		{"Yeah, hello?", "en-us+f3", 150, -1, engine.EventHumanDetected, engine.ReasonShortGreeting},
		{"Hello, the Brown residence, Amy speaking.", "en-us+f2", 170, -1, engine.EventHumanDetected, engine.ReasonShortGreeting},
		{"Hi, you've reached Mike and Anna, we can't come to the phone right now, please leave a message after the tone.", "en-us", 165, 400, engine.EventMachineDetected, ""},
		{"The mailbox is full and cannot accept any messages at this time. Goodbye.", "en-gb+m3", 150, -1, engine.EventMachineDetected, ""},
		{"Please leave a message after the beep.", "en-us+f4", 160, 300, engine.EventMachineDetected, engine.ReasonBeep},
	}
	for i, tc := range cases {
		t.Run(tc.voice+"/"+tc.text, func(t *testing.T) {
			t.Parallel()
			speech := tts(t, tc.text, tc.voice, tc.wpm)
			pcm, end := callFrom(speech, 700, 3000, tc.beep, -55, uint64(i))
			evs := run(t, engine.Config{}, pcm)
			checkInvariants(t, evs, true)
			d := evs[0]
			if d.Type != tc.want || (tc.reason != "" && d.Reason != tc.reason) {
				t.Fatalf("got %s, want %s(%s)", seq(evs), tc.want, tc.reason)
			}
			switch tc.want {
			case engine.EventHumanDetected:
				if lat := d.AtMs - end; lat < engine.HumanSilenceMs || lat > max(engine.AmbiguousSilenceMs, engine.OpenerSilenceMs)+200 {
					t.Errorf("human verdict %d ms after the speech ended", lat)
				}
			case engine.EventMachineDetected:
				if tc.beep >= 0 {
					if _, ok := find(evs, engine.EventToneDetected); !ok {
						t.Errorf("beep not reported: %s", seq(evs))
					}
				}
			}
		})
	}
}
