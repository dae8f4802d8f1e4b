package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amd-engine/amd/fixtures"
)

// scoreCorpus writes a small labelled corpus: the first clip of each given
// category from the fixtures (copied), plus extra manifest lines.
func scoreCorpus(t *testing.T, categories []string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(filepath.Join(fixtures.CorpusDir(), "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	want := map[string]bool{}
	for _, c := range categories {
		want[c] = true
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c fixtures.Clip
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if !want[c.Category] || strings.HasSuffix(c.File, ".opus") {
			continue
		}
		delete(want, c.Category)
		src, err := os.ReadFile(fixtures.ClipPath(c))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(c.File))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, src, 0o644); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, sc.Text())
	}
	if len(want) > 0 {
		t.Fatalf("no clips for %v", want)
	}
	lines = append(lines, extra...)
	if err := os.WriteFile(filepath.Join(dir, "manifest.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScore(t *testing.T) {
	dir := scoreCorpus(t, []string{"human_short", "voicemail_beep", "silence"})

	var out, errb bytes.Buffer
	if code := dispatch([]string{"score", "--json", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var sum scoreSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if sum.Clips != 3 || sum.Overall != 1 || sum.BeepRecall != 1 || sum.FalseTones != 0 || sum.Errors != 0 || len(sum.Misses) != 0 {
		t.Errorf("summary %+v, want 3 clips all right", sum)
	}

	out.Reset()
	if code := dispatch([]string{"score", filepath.Join(dir, "manifest.jsonl")}, &out, &errb); code != 0 {
		t.Fatalf("report exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"label \\ verdict", "overall 100.0% (3/3)", "beep recall 100.0% (1/1)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestScoreBadInput(t *testing.T) {
	missing := `{"file":"human/gone.wav","label":"human","category":"human_short","text":"Hello?","voice":"x","words":1,"speech":[[300,700]],"channel":"pcm","container":"wav-pcm16-8k","noise":"none","levelDbfs":-20,"durationMs":3000}`
	dir := scoreCorpus(t, []string{"human_short"}, missing)
	tests := []struct {
		name    string
		args    []string
		code    int
		errHas  string
		outJSON bool
	}{
		{"unreadable clip counts as error", []string{"--json", dir}, 1, "gone.wav", true},
		{"no manifest", []string{t.TempDir()}, 1, "manifest", false},
		{"no argument", nil, 2, "usage", false},
		{"two arguments", []string{dir, dir}, 2, "usage", false},
		{"bad timer", []string{"--decision-timeout-ms", "-5", dir}, 2, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(append([]string{"score"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.errHas) {
				t.Errorf("stderr %q lacks %q", errb.String(), tc.errHas)
			}
			if tc.outJSON {
				var sum scoreSummary
				if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.Errors != 1 || sum.Clips != 2 {
					t.Errorf("summary %+v (%v), want 2 clips with 1 error", sum, err)
				}
			}
		})
	}
}
