// Command plot turns capacity-run results into the pictures and the table
// of BENCHMARKS.md. Its input is JSON Lines written by bench/capacity.sh, one
// run per line: {"load1": 1.2, "cpuModel": "...", "result": <amdctl load --json>}.
// It writes cpu.svg (engine and generator CPU against concurrency), lag.svg
// (event lag p50/p99 against concurrency) and rss.svg (resident memory per
// call), one line per codec, and prints a Markdown table of every run.
//
//	go run ./bench/plot -out bench/capacity bench/capacity/runs.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/amd-engine/amd/loadgen"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Run is one line of the input.
type Run struct {
	Load1  float64        `json:"load1"`
	Note   string         `json:"note,omitempty"`
	Result loadgen.Result `json:"result"`
}

// ErrInput wraps every input syntax error; the message names the line.
var ErrInput = errors.New("plot: bad input")

func main() {
	out := flag.String("out", ".", "directory for cpu.svg, lag.svg and rss.svg")
	flag.Parse()
	var runs []Run
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rs, err := parseRuns(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
		runs = append(runs, rs...)
	}
	if len(runs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: plot [-out DIR] runs.jsonl...")
		os.Exit(2)
	}
	if err := draw(runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	writeTable(os.Stdout, runs)
}

func parseRuns(r io.Reader) ([]Run, error) {
	var out []Run
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var run Run
		if err := json.Unmarshal(sc.Bytes(), &run); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrInput, n, err)
		}
		if run.Result.Concurrency <= 0 || run.Result.Codec == "" {
			return nil, fmt.Errorf("%w: line %d: result without codec or concurrency", ErrInput, n)
		}
		out = append(out, run)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return out, nil
}

// byCodec groups runs per codec, each sorted by concurrency.
func byCodec(runs []Run) (map[string][]Run, []string) {
	m := map[string][]Run{}
	for _, r := range runs {
		m[r.Result.Codec] = append(m[r.Result.Codec], r)
	}
	var codecs []string
	for c, rs := range m {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Result.Concurrency < rs[j].Result.Concurrency })
		codecs = append(codecs, c)
	}
	sort.Strings(codecs)
	return m, codecs
}

var palette = []color.Color{
	color.NRGBA{R: 40, G: 90, B: 200, A: 255},
	color.NRGBA{R: 200, G: 60, B: 30, A: 255},
	color.NRGBA{R: 40, G: 150, B: 70, A: 255},
}

type series struct {
	label  string
	y      func(loadgen.Result) float64
	dashed bool
}

// latest keeps, per concurrency, the last run in input order (a repeated
// measurement supersedes the earlier one in the plots; the table keeps both).
func latest(rs []Run) []Run {
	var out []Run
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1].Result.Concurrency == r.Result.Concurrency {
			out[n-1] = r
			continue
		}
		out = append(out, r)
	}
	return out
}

func draw(runs []Run, dir string) error {
	m, codecs := byCodec(runs)
	for c, rs := range m {
		m[c] = latest(rs)
	}
	charts := []struct {
		file, title, ylabel string
		series              []series
	}{
		{"cpu.svg", "CPU against concurrent calls (2 cores = 200%)", "CPU %", []series{
			{"engine", func(r loadgen.Result) float64 { return r.EngineCPUPercent }, false},
			{"generator", func(r loadgen.Result) float64 { return r.GeneratorCPUPercent }, true},
		}},
		{"lag.svg", "AMD decision lag against concurrent calls", "event lag (ms)", []series{
			{"p50", func(r loadgen.Result) float64 { return r.EventLagP50Ms }, true},
			{"p99", func(r loadgen.Result) float64 { return r.EventLagP99Ms }, false},
		}},
		{"rss.svg", "Engine resident memory per call", "KiB per call", []series{
			{"rss/call", func(r loadgen.Result) float64 { return r.RSSPerCallKiB }, false},
		}},
	}
	for _, ch := range charts {
		p := plot.New()
		p.Title.Text = ch.title
		p.X.Label.Text = "concurrent calls"
		p.Y.Label.Text = ch.ylabel
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		for ci, codec := range codecs {
			for _, s := range ch.series {
				var xy plotter.XYs
				for _, r := range m[codec] {
					if v := s.y(r.Result); v >= 0 { // -1: not measured
						xy = append(xy, plotter.XY{X: float64(r.Result.Concurrency), Y: v})
					}
				}
				if len(xy) == 0 {
					continue
				}
				l, pts, err := plotter.NewLinePoints(xy)
				if err != nil {
					return err
				}
				l.Color, pts.Color = palette[ci%len(palette)], palette[ci%len(palette)]
				if s.dashed {
					l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				}
				p.Add(l, pts)
				p.Legend.Add(codec+" "+s.label, l, pts)
			}
		}
		if err := p.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, ch.file)); err != nil {
			return fmt.Errorf("plot %s: %w", ch.file, err)
		}
	}
	return nil
}

// writeTable prints every run as a Markdown table row.
func writeTable(w io.Writer, runs []Run) {
	m, codecs := byCodec(runs)
	fmt.Fprintln(w, "| codec | concurrency | mean up | calls | answered | decided | correct | refused | rtp lost | lag p50 ms | lag p99 ms | engine CPU % | CPU/call % | generator CPU % | engine RSS MiB | RSS/call KiB | load1 | pass | run |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, c := range codecs {
		for _, run := range m[c] {
			r := run.Result
			fmt.Fprintf(w, "| %s | %d | %.0f | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.0f | %.3f | %.0f | %.0f | %.0f | %.2f | %s | %s |\n",
				r.Codec, r.Concurrency, r.MeanCalls, r.Calls, r.Answered, r.Decided, r.Correct, r.Refused, r.RTPLostAtEngine,
				r.EventLagP50Ms, r.EventLagP99Ms, r.EngineCPUPercent, r.EngineCPUPerCallPct, r.GeneratorCPUPercent,
				r.EngineRSSMiB, r.RSSPerCallKiB, run.Load1, verdict(r), run.Note)
		}
	}
}

// verdict applies the capacity criteria: no RTP lost at the engine, every
// answered call decided, every call answered, p99 lag under 50 ms.
func verdict(r loadgen.Result) string {
	switch {
	case r.RTPLostAtEngine != 0:
		return "no: rtp lost"
	case r.Answered < r.Calls:
		return "no: unanswered"
	case r.Decided < r.Answered:
		return "no: undecided"
	case r.EventLagP99Ms < 0 || r.EventLagP99Ms >= 50:
		return "no: lag"
	}
	return "yes"
}
