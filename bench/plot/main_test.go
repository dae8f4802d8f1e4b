package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amd-engine/amd/loadgen"
)

func TestVerdict(t *testing.T) {
	t.Parallel()
	ok := loadgen.Result{Calls: 10, Answered: 10, Decided: 10, EventLagP99Ms: 12}
	tests := []struct {
		name   string
		mutate func(*loadgen.Result)
		want   string
	}{
		{"pass", func(*loadgen.Result) {}, "yes"},
		{"loss", func(r *loadgen.Result) { r.RTPLostAtEngine = 3 }, "no: rtp lost"},
		{"unmeasured loss", func(r *loadgen.Result) { r.RTPLostAtEngine = -1 }, "no: rtp lost"},
		{"unanswered", func(r *loadgen.Result) { r.Answered = 9 }, "no: unanswered"},
		{"undecided", func(r *loadgen.Result) { r.Decided = 9 }, "no: undecided"},
		{"lag", func(r *loadgen.Result) { r.EventLagP99Ms = 50 }, "no: lag"},
		{"no lag measured", func(r *loadgen.Result) { r.EventLagP99Ms = -1 }, "no: lag"},
	}
	for _, tt := range tests {
		r := ok
		tt.mutate(&r)
		if got := verdict(r); got != tt.want {
			t.Errorf("%s: verdict %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDrawAndTable(t *testing.T) {
	t.Parallel()
	in := `{"load1":0.5,"result":{"calls":20,"answered":20,"decided":20,"correct":19,"codec":"pcmu","concurrency":10,"engineCpuPercent":8,"generatorCpuPercent":5,"eventLagP50Ms":1,"eventLagP99Ms":3,"rssPerCallKiB":40}}

{"load1":1.5,"result":{"calls":200,"answered":200,"decided":200,"correct":190,"codec":"pcmu","concurrency":100,"engineCpuPercent":60,"generatorCpuPercent":30,"eventLagP50Ms":2,"eventLagP99Ms":70,"rssPerCallKiB":-1}}
{"load1":1.5,"result":{"calls":50,"answered":50,"decided":50,"correct":50,"codec":"opus","concurrency":50,"engineCpuPercent":90,"generatorCpuPercent":20,"eventLagP50Ms":2,"eventLagP99Ms":9,"rssPerCallKiB":50}}
`
	runs, err := parseRuns(strings.NewReader(in))
	if err != nil || len(runs) != 3 {
		t.Fatalf("parseRuns: %d runs, %v", len(runs), err)
	}
	dir := t.TempDir()
	if err := draw(runs, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpu.svg", "lag.svg", "rss.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("pcmu")) {
			t.Errorf("%s: not an SVG naming the codec (%v)", f, err)
		}
	}
	var tab bytes.Buffer
	writeTable(&tab, runs)
	lines := strings.Split(strings.TrimSpace(tab.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("table has %d lines, want header + rule + 3 rows:\n%s", len(lines), tab.String())
	}
	// Sorted by codec, then concurrency; the 100-call run fails on lag.
	if !strings.HasPrefix(lines[2], "| opus | 50 ") || !strings.HasPrefix(lines[3], "| pcmu | 10 ") || !strings.Contains(lines[4], "| no: lag |") {
		t.Errorf("table rows out of order or misjudged:\n%s", tab.String())
	}
}

func TestParseRunsErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"{", `{"result":{"codec":"pcmu"}}`, `{"result":{"concurrency":3}}`} {
		if _, err := parseRuns(strings.NewReader(in)); !errors.Is(err, ErrInput) {
			t.Errorf("%q: err %v, want ErrInput", in, err)
		}
	}
}

func FuzzParseRuns(f *testing.F) {
	f.Add([]byte(`{"load1":1,"result":{"codec":"pcmu","concurrency":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		runs, err := parseRuns(bytes.NewReader(b))
		if err != nil && !errors.Is(err, ErrInput) {
			t.Fatalf("error %v does not wrap ErrInput", err)
		}
		for _, r := range runs {
			if r.Result.Concurrency <= 0 || r.Result.Codec == "" {
				t.Fatalf("accepted a run without codec/concurrency: %+v", r)
			}
		}
	})
}

func TestLatest(t *testing.T) {
	t.Parallel()
	in := `{"note":"a","result":{"codec":"pcmu","concurrency":10}}
{"note":"b","result":{"codec":"pcmu","concurrency":20}}
{"note":"c","result":{"codec":"pcmu","concurrency":10}}
`
	runs, err := parseRuns(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := byCodec(runs)
	got := latest(m["pcmu"])
	if len(got) != 2 || got[0].Note != "c" || got[1].Note != "b" {
		t.Fatalf("latest = %+v, want the repeated 10-call run (c) then 20 (b)", got)
	}
}
