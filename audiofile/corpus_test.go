package audiofile_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/amd-engine/amd/audiofile"
	"github.com/amd-engine/amd/fixtures"
)

// TestCorpus decodes every clip of the team's labelled corpus (files made by
// the fixture generator with sox, espeak-ng, flite and Opus) and checks the
// container, rate and duration against its manifest.
func TestCorpus(t *testing.T) {
	clips, err := fixtures.Corpus()
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no corpus checked out")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(clips) == 0 {
		t.Skip("empty corpus")
	}
	t.Parallel()
	loaded := 0
	for _, c := range clips {
		a, err := audiofile.Load(fixtures.ClipPath(c))
		if errors.Is(err, fs.ErrNotExist) {
			continue // manifest ahead of the files (generator mid-run)
		}
		loaded++
		if err != nil {
			t.Errorf("%s: %v", c.File, err)
			continue
		}
		// The manifest's container names carry the rate for PCM
		// ("wav-pcm16-8k"); ours name the encoding only.
		if !strings.HasPrefix(c.Container, string(a.Format)) {
			t.Errorf("%s: format %s, manifest container %s", c.File, a.Format, c.Container)
		}
		if a.Format != audiofile.FormatOggOpus && a.SourceRate != c.SampleRate {
			t.Errorf("%s: source rate %d, manifest %d", c.File, a.SourceRate, c.SampleRate)
		}
		if d := a.DurationMs - int64(c.DurationMs); d < -20 || d > 20 {
			t.Errorf("%s: %d ms, manifest %d ms", c.File, a.DurationMs, c.DurationMs)
		}
	}
	t.Logf("%d of %d clips decoded and checked", loaded, len(clips))
}
