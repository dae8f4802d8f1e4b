package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/amd-engine/amd/control"
)

func init() {
	register("watch", "print the statuses and AMD events of every call (or one) until interrupted", runWatch)
}

// Exit statuses of `amdctl watch`: interrupted (or --exit-on-final after the
// call's final status) is success; losing the connection is not, so a
// supervisor can restart the watcher.
const (
	exitWatchOK    = 0
	exitWatchLost  = 1 // could not connect or subscribe, or the connection dropped
	exitWatchUsage = 2
)

type watchFlags struct {
	engineURL, token, callID string
	jsonOut, exitOnFinal     bool
}

func parseWatchFlags(args []string, stderr io.Writer) (*watchFlags, error) {
	f := &watchFlags{}
	fs := flag.NewFlagSet("amdctl watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.engineURL, "engine", "ws://127.0.0.1:8081/v1/control", "amdd control channel URL")
	fs.StringVar(&f.token, "token", os.Getenv("AMD_CONTROL_TOKEN"), "bearer token for the control channel (default $AMD_CONTROL_TOKEN)")
	fs.StringVar(&f.callID, "call", "", "watch only this call ID (default: every call)")
	fs.BoolVar(&f.jsonOut, "json", false, "print each status and event as received: one JSON object per line, each with its callId")
	fs.BoolVar(&f.exitOnFinal, "exit-on-final", false, "with --call: exit after the call's final status")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.exitOnFinal && f.callID == "" {
		return nil, errors.New("--exit-on-final needs --call")
	}
	return f, nil
}

func runWatch(args []string, stdout, stderr io.Writer) int {
	f, err := parseWatchFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitWatchOK
		}
		fmt.Fprintf(stderr, "amdctl watch: %v\n", err)
		return exitWatchUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return watch(ctx, f, stdout, stderr)
}

// watch subscribes and prints until ctx ends (the interrupt) or the
// connection drops. Lines are written whole, one per message, from this
// goroutine only, so a pipe reader never sees two messages interleaved.
func watch(ctx context.Context, f *watchFlags, stdout, stderr io.Writer) int {
	cli, err := control.Connect(ctx, f.engineURL, f.token)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl watch: %v\n", err)
		return exitWatchLost
	}
	defer cli.Close()
	if f.callID == "" {
		err = cli.Subscribe(ctx, "")
	} else {
		// One call: ask for its story so far too (protocol 1.1), so a watch
		// started late, or restarted, still shows the whole call; an engine
		// without it acks plainly and only live events follow.
		_, err = cli.SubscribeState(ctx, f.callID)
	}
	if err != nil {
		fmt.Fprintf(stderr, "amdctl watch: subscribe: %v\n", err)
		return exitWatchLost
	}
	// The history and the live events may overlap by a message sent while
	// the subscribe was handled: print each status and AMD event once.
	seenAMD := map[int]bool{}
	seenStatus := map[string]bool{}
	what := "every call"
	if f.callID != "" {
		what = "call " + f.callID
	}
	fmt.Fprintf(stderr, "amdctl watch: subscribed to %s on %s\n", what, f.engineURL)
	for {
		select {
		case in, ok := <-cli.Events():
			if !ok {
				fmt.Fprintf(stderr, "amdctl watch: connection lost: %v\n", cli.Err())
				return exitWatchLost
			}
			// A subscription to one call still delivers the calls this
			// connection dialled (none here), so filter anyway.
			if f.callID != "" && in.CallID != f.callID {
				continue
			}
			switch {
			case f.callID == "":
			case in.AMD != nil && seenAMD[in.AMD.Seq]:
				continue
			case in.AMD != nil:
				seenAMD[in.AMD.Seq] = true
			case in.Status != nil && seenStatus[string(in.Status.Status)]:
				continue
			case in.Status != nil:
				seenStatus[string(in.Status.Status)] = true
			}
			printIncoming(stdout, in, f.jsonOut)
			if f.exitOnFinal && in.Status != nil && in.Status.Status.Final() {
				return exitWatchOK
			}
		case <-ctx.Done():
			return exitWatchOK
		}
	}
}
