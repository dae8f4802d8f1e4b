package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/amd-engine/amd/analysis"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/fixtures"
)

func init() {
	register("score", "run the detector over a labelled corpus (a manifest.jsonl) and print its accuracy", runScore)
}

// scoreSummary is `amdctl score --json`'s one object: the figures the
// accuracy targets are stated in.
type scoreSummary struct {
	Manifest          string   `json:"manifest"`
	Clips             int      `json:"clips"`
	Overall           float64  `json:"overall"`
	Human             float64  `json:"human"`
	Machine           float64  `json:"machine"`
	NoSpeech          float64  `json:"noSpeech"`
	BeepRecall        float64  `json:"beepRecall"`
	FaxRecall         float64  `json:"faxRecall"`
	SITRecall         float64  `json:"sitRecall"`
	FalseTones        int      `json:"falseTones"`
	BeepLatencyP50Ms  int64    `json:"beepLatencyP50Ms"`
	HumanLatencyP50Ms int64    `json:"humanLatencyP50Ms"`
	Errors            int      `json:"errors"`
	Misses            []string `json:"misses"`
}

func runScore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON summary object instead of the report")
	var cfg engine.Config
	amdConfigFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: amdctl score [--json] [AMD flags as for analyze] DIR|manifest.jsonl")
		fmt.Fprintln(stderr, "  DIR holds a manifest.jsonl (as fixtures/corpus does, or `go run ./fixtures/gen -seed N -out DIR` makes);")
		fmt.Fprintln(stderr, "  clip paths in it are relative to its folder. Exit 1 if any clip could not be read.")
		fs.PrintDefaults()
	}
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "amdctl score: %v\n", err)
		return 2
	}
	manifest := rest[0]
	if st, err := os.Stat(manifest); err == nil && st.IsDir() {
		manifest = filepath.Join(manifest, "manifest.jsonl")
	}
	clips, err := fixtures.LoadManifest(manifest)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl score: %v\n", err)
		return 1
	}
	rep := analysis.Score(filepath.Dir(manifest), clips, cfg)
	errs := 0
	var misses []string
	for _, s := range rep.Clips {
		if s.Err != nil {
			errs++
			fmt.Fprintf(stderr, "amdctl score: %s: %s\n", s.Clip.File, oneLine(s.Err.Error()))
		}
		if !s.Correct || !s.ToneOK {
			misses = append(misses, s.Clip.File)
		}
	}
	if *asJSON {
		sum := scoreSummary{
			Manifest: manifest, Clips: len(rep.Clips),
			Overall: rep.Overall().Fraction(), Human: rep.Label(fixtures.LabelHuman).Fraction(),
			Machine: rep.Label(fixtures.LabelMachine).Fraction(), NoSpeech: rep.Label(fixtures.LabelNoSpeech).Fraction(),
			BeepRecall: rep.ToneRecall(fixtures.ToneBeep).Fraction(), FaxRecall: rep.ToneRecall(fixtures.ToneFax).Fraction(),
			SITRecall: rep.ToneRecall(fixtures.ToneSIT).Fraction(), FalseTones: rep.FalseTones().OK,
			BeepLatencyP50Ms: rep.BeepLatencyP50(), HumanLatencyP50Ms: rep.HumanLatencyP50(),
			Errors: errs, Misses: misses,
		}
		if sum.Misses == nil {
			sum.Misses = []string{}
		}
		_ = json.NewEncoder(stdout).Encode(sum)
	} else {
		fmt.Fprintf(stdout, "%s (%d clips)\n", manifest, len(rep.Clips))
		rep.Write(stdout)
	}
	if errs > 0 {
		return 1
	}
	return 0
}
