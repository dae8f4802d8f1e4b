package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	amdsip "github.com/amd-engine/amd/sip"
	"github.com/amd-engine/amd/sip/testphone"
	"github.com/rs/zerolog"
)

func init() {
	register("callee", "run the SIP test phone (answers calls and plays WAV files as RTP)", runCallee)
}

// calleeContext is how long the phone runs; tests replace it.
var calleeContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runCallee(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("callee", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5070", "SIP UDP address to listen on")
	mediaIP := fs.String("media-ip", "", "IP to send RTP from and put in SDP (default: the listen host)")
	audio := fs.String("audio", "", "directory of NAME.wav files (dial sip:NAME@...) or one WAV every call plays (8 kHz mono PCM16/μ-law/A-law)")
	ringMs := fs.Int("ring-ms", 1000, "ring time between 180 Ringing and 200 OK")
	codecs := fs.String("codec", "pcmu,pcma,opus", "codec preference, comma separated (pcmu, pcma, opus)")
	reject := fs.Int("reject", 0, "reject every call with this SIP status (e.g. 486)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: amdctl callee --listen 127.0.0.1:5070 --audio DIR|FILE [--ring-ms 1000] [--codec pcmu|pcma|opus] [--reject CODE]

Per call, the Request-URI chooses the behaviour:
  sip:NAME@host          answer, play NAME.wav, then send silence until BYE
  sip:reject-486@host    reject with 486 (any 400-699)
  sip:noanswer@host      ring until CANCEL
URI parameters: ;ring-ms=N ;codec=opus ;bye-after=N ;bye=end ;early=1 ;reject=CODE ;dtmf=12%23

flags:`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "amdctl callee: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	prefs, err := amdsip.ParseCodecs(*codecs)
	if err != nil || len(prefs) == 0 {
		fmt.Fprintf(stderr, "amdctl callee: --codec %q: want pcmu, pcma and/or opus\n", *codecs)
		return 2
	}
	lvl, err := zerolog.ParseLevel(*level)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl callee: --log-level: %v\n", err)
		return 2
	}
	if *ringMs < 0 {
		fmt.Fprintln(stderr, "amdctl callee: --ring-ms must not be negative")
		return 2
	}
	log := zerolog.New(stderr).Level(lvl).With().Timestamp().Logger()
	ph, err := testphone.New(testphone.Config{
		ListenAddr: *listen, MediaIP: *mediaIP, Audio: *audio,
		RingDelay: time.Duration(*ringMs) * time.Millisecond, Codecs: prefs, Reject: *reject,
	}, log)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl callee: %v\n", err)
		return 2
	}
	ctx, stop := calleeContext()
	defer stop()
	if err := ph.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "amdctl callee: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "test phone listening on sip:%s (udp); Ctrl-C to stop\n", ph.Addr())
	<-ctx.Done()
	if err := ph.Close(); err != nil {
		fmt.Fprintf(stderr, "amdctl callee: close: %v\n", err)
		return 1
	}
	answered := 0
	recs := ph.Records()
	for _, r := range recs {
		if r.Outcome == "answered" {
			answered++
		}
	}
	fmt.Fprintf(stdout, "%d calls, %d answered\n", len(recs), answered)
	return 0
}
