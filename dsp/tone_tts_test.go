package dsp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/dsp"
)

// tsTTS synthesises text with espeak-ng (extra flags in args) and resamples
// it to 8 kHz mono with sox. It skips the test if either tool is missing.
func tsTTS(t *testing.T, text string, args ...string) []int16 {
	t.Helper()
	for _, bin := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	wav := filepath.Join(dir, "tts.wav")
	raw := filepath.Join(dir, "tts.raw")
	espeak := exec.CommandContext(ctx, "espeak-ng", append(append([]string{}, args...), "-w", wav, text)...)
	if out, err := espeak.CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng %v: %v\n%s", args, err, out)
	}
	sox := exec.CommandContext(ctx, "sox", wav, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", raw)
	if out, err := sox.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	if len(pcm) < dsp.SampleRate/2 {
		t.Fatalf("espeak-ng produced only %d samples", len(pcm))
	}
	return pcm
}

// TestToneRejectsTTS runs real synthetic speech and sung-like long vowels
// through the detector: nothing may be Detected, few frames may be Tonal,
// and few may reach the FFT.
func TestToneRejectsTTS(t *testing.T) {
	t.Parallel()
	sentence := "Hi, you have reached the voicemail of John Smith. I'm not available right now, " +
		"please leave your name, number and a short message after the tone, and I will call you back as soon as possible."
	cases := []struct {
		name, text string
		args       []string
	}{
		{"sentence-en-us", sentence, []string{"-v", "en-us"}},
		{"sentence-en-f", sentence, []string{"-v", "en+f3", "-p", "70"}},
		{"sentence-fast-high", sentence, []string{"-v", "en", "-s", "220", "-p", "90"}},
		{"sentence-de", "Hallo, hier ist der Anrufbeantworter von Familie Müller. Bitte sprechen Sie nach dem Signalton.", []string{"-v", "de"}},
		{"sentence-es", "Hola, has llamado a Maria. Deja tu mensaje después de la señal, gracias.", []string{"-v", "es"}},
		{"hello-long", "Hellooooooooo? Hellooooooooooo, is anybody theeeeeeeere?", []string{"-v", "en", "-s", "90"}},
		{"sung-aaah", "Aaaaaaaaaaaaaaaaaah. Ooooooooooooooooh. Eeeeeeeeeeeeeeeeee.", []string{"-v", "en", "-s", "60", "-p", "80"}},
		{"sung-high-female", "Laaaaaaaaaaaaa laaaaaaaaaaaaa. Moooooooooooooo.", []string{"-v", "en+f4", "-s", "50", "-p", "99"}},
		{"hum", "Hmmmmmmmmmmmmmmmmm. Mmmmmmmmmmmmmm.", []string{"-v", "en+f2", "-s", "50", "-p", "95"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pcm := tsTTS(t, c.text, c.args...)
			for _, codec := range []tsCodec{tsLinear, tsMulawCodec} {
				x := pcm
				if codec == tsMulawCodec {
					x = tsMulaw(pcm)
				}
				d := dsp.NewToneDetector()
				events, tonal := tsRun(d, x)
				if dets := tsDetections(events); len(dets) > 0 {
					t.Errorf("%v: false detections %+v", codec, dets)
				}
				n := 0
				for _, v := range tonal {
					if v {
						n++
					}
				}
				st := d.Stats()
				fftFrac := float64(st.FFTFrames) / float64(st.Frames)
				tonalFrac := float64(n) / float64(len(tonal))
				t.Logf("%v: %d frames, %.1f%% reached the FFT, %.1f%% tonal", codec, st.Frames, 100*fftFrac, 100*tonalFrac)
				if tonalFrac > 0.05 {
					t.Errorf("%v: %.1f%% of speech frames flagged Tonal, want ≤ 5%%", codec, 100*tonalFrac)
				}
				if fftFrac > 0.3 {
					t.Errorf("%v: %.1f%% of speech frames reached the FFT, want ≤ 30%%", codec, 100*fftFrac)
				}
			}
		})
	}
}

// TestToneBeepAfterTTSGreeting is the voicemail case end to end: a real TTS
// greeting, a short pause, the beep.
func TestToneBeepAfterTTSGreeting(t *testing.T) {
	t.Parallel()
	greeting := tsTTS(t, "Please leave a message after the tone.", "-v", "en-us")
	for _, f := range []float64{440, 1000, 1400} {
		t.Run(fmt.Sprintf("%.0fHz", f), func(t *testing.T) {
			pause := tsSamples(250)
			x := append(append([]int16{}, greeting...), make([]int16, pause)...)
			onset := int64(len(x)) * 1000 / dsp.SampleRate
			x = append(x, tsToInt16(tsSine(f, -12, 250))...)
			x = append(x, make([]int16, tsSamples(500))...)
			events, _ := tsRun(dsp.NewToneDetector(), tsMulaw(x))
			dets := tsDetections(events)
			if len(dets) != 1 || dets[0].Detected != dsp.ToneBeep {
				t.Fatalf("detections %+v, want one beep", dets)
			}
			if e := dets[0].OnsetMs - onset; e < -30 || e > 30 {
				t.Errorf("onset %d ms, true %d", dets[0].OnsetMs, onset)
			}
			if lat := dets[0].AtMs - onset; lat > 150 {
				t.Errorf("latency %d ms", lat)
			}
		})
	}
}
