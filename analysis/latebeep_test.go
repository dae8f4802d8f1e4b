package analysis_test

import (
	"path/filepath"
	"testing"

	"github.com/amd-engine/amd/analysis"
	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

// TestNoLateBeepInConversation: after a human verdict the detector keeps
// listening for the beep of a recording that opened like a person, so the
// person's own talk after the verdict must never pass for a beep. Each
// human clip is followed by the speech of the next two human clips on the
// same channel — a callee who keeps talking once the call is connected —
// and no conversation may produce amd_tone_detected.
func TestNoLateBeepInConversation(t *testing.T) {
	clips, err := fixtures.Corpus()
	if err != nil {
		t.Fatal(err)
	}
	byChannel := map[string][]fixtures.Clip{}
	for _, c := range clips {
		if c.Label == fixtures.LabelHuman {
			byChannel[c.Channel] = append(byChannel[c.Channel], c)
		}
	}
	audio := func(c fixtures.Clip) []int16 {
		a, err := audiofile.Load(filepath.Join(fixtures.CorpusDir(), c.File))
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		return a.Samples
	}
	conversations, humans := 0, 0
	for channel, cs := range byChannel {
		lossy := channel == fixtures.ChannelOpus || channel == fixtures.ChannelOpusLoss
		for i := range cs {
			var talk []int16
			for k := 0; k < 3 && k < len(cs); k++ {
				talk = append(talk, audio(cs[(i+k)%len(cs)])...)
			}
			res, err := analysis.Samples(talk, engine.Config{}, false, engine.WithLossyCodec(lossy))
			if err != nil {
				t.Fatal(err)
			}
			conversations++
			if d, ok := res.Decision(); ok && d.Type == engine.EventHumanDetected {
				humans++
			}
			if e, ok := res.First(engine.EventToneDetected); ok {
				t.Errorf("%s (+2 more, %s): amd_tone_detected at %d ms (%.0f Hz, %d ms) in a person's talk",
					cs[i].File, channel, e.AtMs, e.ToneFrequencyHz, e.ToneDurationMs)
			}
		}
	}
	if conversations < 50 || humans < conversations*9/10 {
		t.Fatalf("%d conversations, %d called human: the test is not exercising the late-beep listener", conversations, humans)
	}
	t.Logf("%d conversations (%d called human), no late beep", conversations, humans)
}
