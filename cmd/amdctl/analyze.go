package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/amd-engine/amd/analysis"
	"github.com/amd-engine/amd/engine"
)

func init() {
	register("analyze", "run the detector over audio files (WAV, Ogg Opus, pcap)", runAnalyze)
}

// amdConfigFlags binds the dialout API's AMD knobs to flags; analyze, dial and
// load share them so the names never drift.
func amdConfigFlags(fs *flag.FlagSet, cfg *engine.Config) {
	fs.IntVar(&cfg.ThresholdWordCount, "threshold-word-count", 0, fmt.Sprintf("words that make a greeting a machine's (default %d)", engine.DefaultThresholdWordCount))
	fs.IntVar(&cfg.Timers.NoSpeechTimeoutMs, "no-speech-timeout-ms", 0, fmt.Sprintf("silence from the start before amd_no_speech_detected (default %d)", engine.DefaultNoSpeechTimeoutMs))
	fs.IntVar(&cfg.Timers.DecisionTimeoutMs, "decision-timeout-ms", 0, fmt.Sprintf("audio time before amd_decision_timeout (default %d)", engine.DefaultDecisionTimeoutMs))
	fs.IntVar(&cfg.Timers.ToneTimeoutMs, "tone-timeout-ms", 0, fmt.Sprintf("time after a machine verdict to wait for the beep (default %d)", engine.DefaultToneTimeoutMs))
	fs.IntVar(&cfg.Timers.GreetingCompletionTimeoutMs, "greeting-completion-timeout-ms", 0, fmt.Sprintf("silence that ends a machine's greeting (default %d)", engine.DefaultGreetingCompletionTimeoutMs))
}

// parseInterleaved lets flags and file names come in any order, as users type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, nil
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

func runAnalyze(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "one JSON object per file per line")
	plotPath := fs.String("plot", "", "draw what the detector heard to this .svg or .png (one file per input: name-N-input.ext when several)")
	lossy := fs.Bool("lossy-codec", false, "the audio went through a lossy codec such as Opus before it was saved (automatic for Ogg Opus and Opus captures)")
	var cfg engine.Config
	amdConfigFlags(fs, &cfg)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: amdctl analyze [--json] [--plot out.svg|png] [--lossy-codec] [--threshold-word-count N] [--no-speech-timeout-ms N] [--decision-timeout-ms N] [--tone-timeout-ms N] [--greeting-completion-timeout-ms N] FILE...")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(files) == 0 {
		fs.Usage()
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "amdctl analyze: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for i, file := range files {
		var opts []engine.Option
		if *lossy {
			opts = append(opts, engine.WithLossyCodec(true))
		}
		res, err := analysis.File(file, cfg, *plotPath != "", opts...)
		if err != nil {
			failed++
			msg := oneLine(err.Error())
			if *asJSON {
				_ = enc.Encode(analysis.FailedResult{File: file, Error: msg})
			} else {
				fmt.Fprintf(stdout, "%s: error: %s\n\n", file, msg)
			}
			fmt.Fprintf(stderr, "amdctl analyze: %s: %s\n", file, msg)
			continue
		}
		if *asJSON {
			_ = enc.Encode(res)
		} else {
			writeTable(stdout, res)
		}
		if *plotPath != "" {
			out := plotFileName(*plotPath, i, file, len(files))
			if err := analysis.SavePlot(res.Trace, file, out); err != nil {
				failed++
				fmt.Fprintf(stderr, "amdctl analyze: %s: %v\n", file, err)
			} else if !*asJSON {
				fmt.Fprintf(stdout, "plot: %s\n\n", out)
			}
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func plotFileName(base string, i int, input string, n int) string {
	if n == 1 {
		return base
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	in := strings.TrimSuffix(filepath.Base(input), filepath.Ext(input))
	return fmt.Sprintf("%s-%d-%s%s", stem, i+1, in, ext)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func writeTable(w io.Writer, res analysis.Result) {
	fmt.Fprintf(w, "%s  (%d ms)\n", res.File, res.DurationMs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT ms\tEVENT\tREASON\tCONF\tEVIDENCE")
	for _, ev := range res.Events {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%.2f\t%s\n", ev.AtMs, ev.Type, ev.Reason, ev.Confidence, evidence(ev))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

func evidence(ev engine.Event) string {
	var parts []string
	if ev.ToneKind != "" {
		parts = append(parts, fmt.Sprintf("tone=%s %.0fHz onset=%dms dur=%dms", ev.ToneKind, ev.ToneFrequencyHz, ev.ToneOnsetMs, ev.ToneDurationMs))
	}
	if ev.WordCount > 0 || ev.SpeechMs > 0 {
		parts = append(parts, fmt.Sprintf("words=%d greeting=%dms speech=%dms", ev.WordCount, ev.GreetingDurationMs, ev.SpeechMs))
	}
	if ev.InitialSilenceMs > 0 {
		parts = append(parts, fmt.Sprintf("initialSilence=%dms", ev.InitialSilenceMs))
	}
	if ev.TrailingSilenceMs > 0 {
		parts = append(parts, fmt.Sprintf("trailingSilence=%dms", ev.TrailingSilenceMs))
	}
	if ev.Message != "" {
		parts = append(parts, ev.Message)
	}
	return strings.Join(parts, " ")
}
