package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

func init() {
	register("dial", "place a call through amdd and print its statuses and AMD events until it ends", runDial)
}

// Exit statuses of `amdctl dial`: 0 means the call reached a final status
// (completed or failed — a busy callee is an answer, not a tool failure).
const (
	exitDialOK        = 0
	exitDialNotPlaced = 1 // refused, connection failed or lost before the end
	exitDialUsage     = 2
)

// defaultDialWait bounds how long `amdctl dial` waits for the call to end,
// so a script never hangs on a call nobody hangs up.
const defaultDialWait = 10 * time.Minute

type dialFlags struct {
	engineURL, token, target, caller, trunk, callID, codecs, mode string
	timeoutMs, words                                              int
	timers                                                        engine.Timers
	jsonOut                                                       bool
	wait                                                          time.Duration
	metadata                                                      kvFlag
}

// kvFlag collects repeatable key=value flags.
type kvFlag map[string]string

func (k *kvFlag) String() string { return fmt.Sprint(map[string]string(*k)) }
func (k *kvFlag) Set(s string) error {
	key, val, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *k == nil {
		*k = kvFlag{}
	}
	(*k)[key] = val
	return nil
}

func parseDialFlags(args []string, stderr io.Writer) (*dialFlags, error) {
	f := &dialFlags{}
	fs := flag.NewFlagSet("amdctl dial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.engineURL, "engine", "ws://127.0.0.1:8081/v1/control", "amdd control channel URL")
	// The env value is applied after parsing, never as the flag's default,
	// so -h cannot print the secret.
	fs.StringVar(&f.token, "token", "", "bearer token for the control channel (default $AMD_CONTROL_TOKEN)")
	fs.StringVar(&f.target, "target", "", "callee: sip:user@host[:port], tel: URI or number (required)")
	fs.StringVar(&f.caller, "caller", "", "caller ID put in From (required)")
	fs.StringVar(&f.trunk, "trunk", "", "trunk name (default: amdd's first trunk)")
	fs.StringVar(&f.callID, "call-id", "", "call ID to use (default: amdd picks one)")
	fs.StringVar(&f.codecs, "codecs", "", "comma-separated codec preference: pcmu,pcma,opus")
	fs.IntVar(&f.timeoutMs, "timeout-ms", 0, "ring timeout in ms (0: amdd's default)")
	fs.StringVar(&f.mode, "machine-detection", "detect", "detect, disconnect or disabled")
	fs.IntVar(&f.words, "threshold-word-count", 0, "greeting words from which it is a machine (0: default)")
	fs.IntVar(&f.timers.NoSpeechTimeoutMs, "no-speech-timeout-ms", 0, "no-speech timeout (0: default)")
	fs.IntVar(&f.timers.DecisionTimeoutMs, "decision-timeout-ms", 0, "decision timeout (0: default)")
	fs.IntVar(&f.timers.ToneTimeoutMs, "tone-timeout-ms", 0, "tone timeout (0: default)")
	fs.IntVar(&f.timers.GreetingCompletionTimeoutMs, "greeting-completion-timeout-ms", 0, "greeting completion timeout (0: default)")
	fs.Var(&f.metadata, "metadata", "key=value echoed in call statuses (repeatable)")
	fs.BoolVar(&f.jsonOut, "json", false, "print each status and event as one JSON object per line")
	fs.DurationVar(&f.wait, "wait", defaultDialWait, "give up (and hang up) if the call has not ended after this long")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.token == "" {
		f.token = os.Getenv("AMD_CONTROL_TOKEN")
	}
	if f.target == "" {
		return nil, errors.New("--target is required")
	}
	if f.caller == "" {
		return nil, errors.New("--caller is required")
	}
	if f.wait <= 0 {
		return nil, errors.New("--wait must be positive")
	}
	return f, nil
}

func (f *dialFlags) request() control.Dial {
	d := control.Dial{
		CallID:             f.callID,
		Target:             f.target,
		Caller:             f.caller,
		Trunk:              f.trunk,
		TimeoutInMs:        f.timeoutMs,
		Metadata:           f.metadata,
		Timers:             f.timers,
		MachineDetection:   engine.Mode(f.mode),
		ThresholdWordCount: f.words,
	}
	for _, c := range strings.Split(f.codecs, ",") {
		if c = strings.TrimSpace(c); c != "" {
			d.Codecs = append(d.Codecs, c)
		}
	}
	return d
}

func runDial(args []string, stdout, stderr io.Writer) int {
	f, err := parseDialFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "amdctl dial: %v\n", err)
			return exitDialUsage
		}
		return exitDialOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return dialAndWatch(ctx, f, stdout, stderr)
}

// dialAndWatch places the call and prints until its final status. An
// interrupt (ctx) hangs the call up and keeps printing until it has ended,
// so the last line is always the final status when the engine is reachable.
func dialAndWatch(ctx context.Context, f *dialFlags, stdout, stderr io.Writer) int {
	cctx, cancel := context.WithTimeout(ctx, control.DefaultDialTimeout)
	c, err := control.Connect(cctx, f.engineURL, f.token)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "amdctl dial: %v\n", err)
		return exitDialNotPlaced
	}
	defer c.Close()

	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	callID, err := c.Dial(dctx, f.request())
	cancel()
	if err != nil {
		var ce *control.CommandError
		if errors.As(err, &ce) && ce.Field != "" {
			fmt.Fprintf(stderr, "amdctl dial: refused: %s (field %s): %s\n", ce.Code, ce.Field, ce.Message)
		} else {
			fmt.Fprintf(stderr, "amdctl dial: %v\n", err)
		}
		return exitDialNotPlaced
	}
	if !f.jsonOut {
		fmt.Fprintf(stdout, "%s call %s placed to %s\n", stamp(time.Now()), callID, f.target)
	}

	waitLimit := time.NewTimer(f.wait)
	defer waitLimit.Stop()
	hungUp := false
	hangup := func(why string) {
		if hungUp {
			return
		}
		hungUp = true
		fmt.Fprintf(stderr, "amdctl dial: %s: hanging up %s\n", why, callID)
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Hangup(hctx, callID); err != nil && !errors.Is(err, control.ErrUnknownCall) {
			fmt.Fprintf(stderr, "amdctl dial: hangup: %v\n", err)
		}
	}
	interrupted := ctx.Done()
	var giveUp <-chan time.Time
	for {
		select {
		case in, ok := <-c.Events():
			if !ok {
				fmt.Fprintf(stderr, "amdctl dial: connection lost before the call ended: %v\n", c.Err())
				return exitDialNotPlaced
			}
			if in.CallID != callID {
				continue
			}
			printIncoming(stdout, in, f.jsonOut)
			if in.Status != nil && in.Status.Status.Final() {
				return exitDialOK
			}
		case <-interrupted:
			interrupted = nil
			hangup("interrupted")
			giveUp = time.After(10 * time.Second)
		case <-waitLimit.C:
			hangup(fmt.Sprintf("call still up after %v", f.wait))
			giveUp = time.After(10 * time.Second)
		case <-giveUp:
			fmt.Fprintln(stderr, "amdctl dial: no final status after hangup")
			return exitDialNotPlaced
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

func printIncoming(w io.Writer, in control.Incoming, jsonOut bool) {
	if jsonOut {
		fmt.Fprintf(w, "%s\n", in.Raw)
		return
	}
	switch {
	case in.Status != nil:
		s := in.Status
		line := fmt.Sprintf("%s call %s %s", stamp(time.UnixMilli(s.TimeUnixMs)), s.CallID, s.Status)
		if s.Reason != "" {
			line += fmt.Sprintf(" reason=%q", s.Reason)
		}
		if s.EndReason != "" {
			line += " endReason=" + string(s.EndReason)
		}
		// Timings appear as they become known; print only those.
		for _, tm := range []struct {
			name string
			ms   int64
		}{{"ring", s.Timings.RingDurationInMs}, {"connect", s.Timings.ConnectDurationInMs}, {"total", s.Timings.CallDurationInMs}} {
			if tm.ms > 0 {
				line += fmt.Sprintf(" %s=%dms", tm.name, tm.ms)
			}
		}
		fmt.Fprintln(w, line)
	case in.AMD != nil:
		e := in.AMD
		line := fmt.Sprintf("%s call %s #%d %s reason=%s at=%dms confidence=%.2f words=%d greeting=%dms",
			stamp(time.UnixMilli(e.TimeUnixMs)), e.CallID, e.Seq, e.Event.Type, e.Reason, e.AtMs, e.Confidence, e.WordCount, e.GreetingDurationMs)
		if e.ToneKind != "" {
			line += fmt.Sprintf(" tone=%s %.0fHz %dms", e.ToneKind, e.ToneFrequencyHz, e.ToneDurationMs)
		}
		if e.Message != "" {
			line += fmt.Sprintf(" message=%q", e.Message)
		}
		fmt.Fprintln(w, line)
	}
}
