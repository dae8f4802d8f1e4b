package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/amd-engine/amd/loadgen"
	amdsip "github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

func init() {
	register("load", "load generator: amdd dials N calls to us, we play labelled audio and score the events", runLoad)
}

// loadContext is the run's parent context; tests replace it.
var loadContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runLoad(args []string, stdout, stderr io.Writer) int {
	var cfg loadgen.Config
	var codec, level string
	var ringMs int
	var jsonOut bool
	fs := flag.NewFlagSet("amdctl load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.EngineURL, "engine", loadgen.DefaultEngineURL, "amdd control channel URL (loopback only)")
	fs.StringVar(&cfg.Token, "token", "", "control channel bearer token (default $AMD_CONTROL_TOKEN)")
	fs.IntVar(&cfg.Calls, "calls", 10, "calls to place in total")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "calls up at once")
	fs.Float64Var(&cfg.CPS, "cps", 0, "new calls per second at most (0: as fast as slots free up)")
	fs.StringVar(&cfg.Audio, "audio", "", "directory with manifest.jsonl and its labelled clips (e.g. fixtures/corpus)")
	fs.StringVar(&codec, "codec", "pcmu", "codec the callee answers with: pcmu, pcma or opus")
	fs.StringVar(&cfg.SIPListen, "sip-listen", loadgen.DefaultSIPListen, "callee SIP UDP address (loopback only)")
	fs.IntVar(&cfg.EnginePID, "engine-pid", 0, "amdd's PID for CPU/RSS (0: the process listening on --engine's port; -1: skip)")
	fs.StringVar(&cfg.MetricsURL, "engine-metrics", "", "amdd /metrics URL (default: --engine's host and port)")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", loadgen.DefaultMaxDuration, "stop (hang up and report) after this long")
	fs.IntVar(&ringMs, "ring-ms", int(loadgen.DefaultRingDelay/time.Millisecond), "ring time before answering")
	fs.DurationVar(&cfg.HoldAfterClip, "hold", loadgen.DefaultHoldAfterClip, "keep a decided call up this long after its clip ended (silence), so capacity runs hold calls longer than one greeting")
	fs.IntVar(&cfg.Pacers, "pacers", 0, "RTP sender goroutines (0: one per CPU, at most 4)")
	fs.BoolVar(&jsonOut, "json", false, "print one JSON object with the results")
	fs.StringVar(&level, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: amdctl load --engine ws://127.0.0.1:8081/v1/control --calls N --concurrency C --audio DIR [--codec pcmu|pcma|opus] [--json]

amdd dials every call to this process (sip:<clip>@--sip-listen); each is answered,
plays its clip as real-time RTP and is scored against the manifest's label.
With --json one object is printed: calls, answered, decided, correct, rtpSent,
rtpLostAtEngine, eventLagP50Ms, eventLagP99Ms, engineCpuPercent, engineRssMiB,
rssPerCallKiB, durationS (plus refused, failed and context fields; -1 = not measured).

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "amdctl load: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.Token == "" {
		cfg.Token = os.Getenv("AMD_CONTROL_TOKEN")
	}
	c, err := amdsip.ParseCodec(codec)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl load: --codec %q: want pcmu, pcma or opus\n", codec)
		return 2
	}
	cfg.Codec = c
	cfg.RingDelay = time.Duration(ringMs) * time.Millisecond
	if ringMs == 0 {
		cfg.RingDelay = time.Nanosecond // 0 would mean the default
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl load: --log-level: %v\n", err)
		return 2
	}
	cfg.Log = zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "amdctl load: %v\n", err)
		return 2
	}
	ctx, stop := loadContext()
	defer stop()
	res, runErr := loadgen.Run(ctx, cfg)
	if runErr != nil && res.Calls == 0 {
		fmt.Fprintf(stderr, "amdctl load: %v\n", runErr)
		return 1
	}
	if jsonOut {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printLoad(stdout, res)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "amdctl load: %v\n", runErr)
		return 1
	}
	return 0
}

func printLoad(w io.Writer, r loadgen.Result) {
	fmt.Fprintf(w, "%d calls (%s, concurrency %d, peak %d up): %d answered, %d decided, %d correct, %d refused, %d failed in %.1f s\n",
		r.Calls, r.Codec, r.Concurrency, r.PeakCalls, r.Answered, r.Decided, r.Correct, r.Refused, r.Failed, r.DurationS)
	fmt.Fprintf(w, "event lag: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d decisions\n", r.EventLagP50Ms, r.EventLagP99Ms, r.EventLagMaxMs, r.LagSamples)
	fmt.Fprintf(w, "rtp: %d sent, %d received, %d lost, %d late at the engine\n", r.RTPSent, r.RTPReceivedAtEngine, r.RTPLostAtEngine, r.RTPLateAtEngine)
	fmt.Fprintf(w, "engine (pid %d): cpu %.1f%%, rss %.1f MiB (%.1f before), %.1f KiB per call; generator cpu %.1f%%\n",
		r.EnginePID, r.EngineCPUPercent, r.EngineRSSMiB, r.EngineRSSBaseMiB, r.RSSPerCallKiB, r.GeneratorCPUPercent)
	for _, s := range r.Wrong {
		fmt.Fprintf(w, "wrong: %s\n", s)
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}
