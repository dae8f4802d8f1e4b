// Command amdd is the AMD media engine daemon: it dials out over SIP,
// receives and decodes the callee's RTP, runs answering-machine detection
// in one owner goroutine per call, and reports call statuses and AMD events
// on a WebSocket control channel (docs/control-protocol.md). This file only
// parses the configuration and wires the daemon package together.
//
// Usage:
//
//	amdd [--config amdd.yaml] [--sip-listen 127.0.0.1:5060] [--control-listen 127.0.0.1:8081]
//	     [--control-token T] [--rtp-ports 30000-39999] [--media-ip IP]
//	     [--trunk name=sip:[user[:password]@]host[:port]]... [--max-calls N]
//	     [--media-timeout 5s] [--ring-timeout 60s] [--log-level info] [--log-format json]
//	     [--pprof-listen 127.0.0.1:6060] [--shutdown-timeout 10s] [--webrtc-udp 127.0.0.1:8443]
//	     [--webrtc-public-ips 203.0.113.7] [--history-retention 10m] [--history-max-ended 10000]
//
// Every flag has an AMD_* environment twin (AMD_CONTROL_TOKEN, AMD_MAX_CALLS,
// ...; trunks as AMD_TRUNKS, comma-separated) and a snake_case key in the
// YAML file (see amdd.example.yaml). Precedence: flags, then environment,
// then file, then defaults. Trunks: the first is the default for number
// targets; credentials go in the trunk spec (name=sip:alice:secret@host:5060,
// split at the last @) or in the file's username/password keys, and answer
// 401/407 digest challenges. Every value is validated at start-up; an error
// names the field ("invalid config: rtp_ports: ...") and exits with status 2.
//
// The control listener serves /v1/control (WebSocket; bearer token when
// --control-token is set), /metrics (Prometheus) and /healthz; with
// --webrtc-udp also WHIP ingest at /v1/whip (docs/control-protocol.md). SIGINT or
// SIGTERM stops gracefully: calls are hung up (KoreVG-disconnected), their
// final statuses delivered, sockets closed.
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
	"time"

	"github.com/amd-engine/amd/daemon"
	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run returns the exit status: 0 after a clean stop, 1 when amdd could not
// start or stop cleanly, 2 for a configuration error.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := LoadConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "amdd: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	svc, err := daemon.NewService(serviceConfig(cfg, log))
	if err != nil {
		log.Error().Err(err).Msg("amdd: configure")
		return 1
	}
	if err := svc.Start(ctx); err != nil {
		log.Error().Err(err).Msg("amdd: start")
		return 1
	}
	<-ctx.Done()
	log.Info().Msg("signal received; stopping")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil {
		log.Error().Err(err).Msg("amdd: shutdown")
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(cfg.LogLevel) // validated
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339Nano}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "amdd").Logger()
}

// serviceConfig maps the file/flag configuration onto the daemon's.
func serviceConfig(cfg Config, log zerolog.Logger) daemon.ServiceConfig {
	lo, hi := cfg.RTPRange()
	trunks := make([]sip.Trunk, 0, len(cfg.Trunks))
	names := make([]string, 0, len(cfg.Trunks))
	for _, t := range cfg.Trunks {
		trunks = append(trunks, sip.Trunk{Name: t.Name, Host: t.Host, Port: t.Port, Username: t.Username, Password: t.Password})
		names = append(names, t.Name)
	}
	return daemon.ServiceConfig{
		SIP: sip.Config{
			ListenAddr:   cfg.SIPListen,
			MediaIP:      cfg.EffectiveMediaIP(),
			RTPPortMin:   lo,
			RTPPortMax:   hi,
			Trunks:       trunks,
			MediaTimeout: cfg.MediaTimeout,
		},
		ControlListen: cfg.ControlListen,
		ControlToken:  cfg.ControlToken,
		PprofListen:   cfg.PprofListen,
		Manager: daemon.Config{
			MaxCalls:     cfg.MaxCalls,
			MediaTimeout: cfg.MediaTimeout,
			RingTimeout:  cfg.RingTimeout,
			Trunks:       names,

			HistoryRetention: cfg.HistoryRetention,
			HistoryMaxEnded:  cfg.HistoryMaxEnded,
		},
		WebRTC: daemon.WebRTCConfig{UDPListen: cfg.WebRTCUDP, PublicIPs: cfg.WebRTCPublicIPs},
		Log:    log,
	}
}
