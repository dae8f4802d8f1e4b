// Command amdgw is the dialout front end of the AMD engine: the Kore.ai
// Voice Gateway compatible HTTP API, signed durable notifications and the
// interactions page. It talks to amdd only over the WebSocket control
// channel. This file is wiring only; the gateway lives in package gateway.
//
//	amdgw --jwt-secret S --signing-secret S2 [--listen 127.0.0.1:8080]
//	      [--engine ws://127.0.0.1:8081/v1/control ...] [--db ./amdgw.db]
//
// Precedence: defaults < --config YAML file < AMD_* environment < flags.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/amd-engine/amd/gateway"
	"github.com/amd-engine/amd/gateway/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stderr))
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// envVars maps AMD_* variables to the flag they stand for.
var envVars = map[string]string{
	"AMD_LISTEN":              "listen",
	"AMD_ENGINES":             "engine", // comma-separated
	"AMD_ENGINE_TOKEN":        "engine-token",
	"AMD_JWT_SECRET":          "jwt-secret",
	"AMD_SIGNING_SECRET":      "signing-secret",
	"AMD_DB":                  "db",
	"AMD_ENGINE_LOSS_TIMEOUT": "engine-loss-timeout",
	"AMD_LOG_LEVEL":           "log-level",
}

// logOptions are the flags that configure logging, not the gateway.
type logOptions struct {
	level string
	json  bool
}

// errUsage: the flags could not be parsed (the flag package printed why).
var errUsage = errors.New("usage")

// loadConfig builds the configuration from defaults, the --config file,
// AMD_* environment variables and flags, in that order of precedence.
func loadConfig(args, environ []string, stderr io.Writer) (gateway.Config, logOptions, error) {
	fs := flag.NewFlagSet("amdgw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile  = fs.String("config", "", "YAML config file (snake_case keys of gateway.Config)")
		listen      = fs.String("listen", "", "HTTP listen address (default "+gateway.DefaultListen+")")
		engines     stringList
		engineToken = fs.String("engine-token", "", "bearer token of the engines' control channel (AMD_ENGINE_TOKEN)")
		jwtSecret   = fs.String("jwt-secret", "", "HS256 secret of the API's JWTs (AMD_JWT_SECRET)")
		signSecret  = fs.String("signing-secret", "", "HMAC secret of the notifications' SAVG-Signature (AMD_SIGNING_SECRET)")
		db          = fs.String("db", "", "SQLite file (default "+gateway.DefaultDB+")")
		lossTimeout = fs.Duration("engine-loss-timeout", 0, "how long a call may go unheard of after its engine connection is lost (default 90s)")
		baseBackoff = fs.Duration("notify-base-backoff", 0, "first notification retry delay (default 1s)")
		maxBackoff  = fs.Duration("notify-max-backoff", 0, "largest notification retry delay (default 5m)")
		maxAge      = fs.Duration("notify-max-age", 0, "give a notification up after this long (default 24h)")
		retention   = fs.Duration("retention", 0, "keep settled calls this long (default 720h)")
		lo          logOptions
	)
	fs.StringVar(&lo.level, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&lo.json, "log-json", false, "log JSON lines instead of console text")
	fs.Var(&engines, "engine", "engine control URL, repeatable (default "+gateway.DefaultEngine+"; AMD_ENGINES, comma-separated)")
	// Environment first, so flags on the command line override it.
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for name, fl := range envVars {
		v, ok := env[name]
		if !ok || v == "" {
			continue
		}
		if fl == "engine" {
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" {
					engines = append(engines, e)
				}
			}
			continue
		}
		if err := fs.Set(fl, v); err != nil {
			return gateway.Config{}, lo, fmt.Errorf("%s: %w", name, err)
		}
	}
	envEngines := len(engines)
	if err := fs.Parse(args); err != nil {
		return gateway.Config{}, lo, errUsage
	}
	if fs.NArg() > 0 {
		return gateway.Config{}, lo, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(engines) > envEngines {
		engines = engines[envEngines:] // flags replace AMD_ENGINES
	}

	var cfg gateway.Config
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return cfg, lo, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true) // a misspelt key is an error, not a silent default
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, lo, fmt.Errorf("%s: %w", *configFile, err)
		}
	}
	setStr := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setDur := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	setStr(&cfg.Listen, *listen)
	if len(engines) > 0 {
		cfg.Engines = engines
	}
	setStr(&cfg.EngineToken, *engineToken)
	setStr(&cfg.JWTSecret, *jwtSecret)
	setStr(&cfg.SigningSecret, *signSecret)
	setStr(&cfg.DB, *db)
	setDur(&cfg.EngineLossTimeout, *lossTimeout)
	setDur(&cfg.Notify.BaseBackoff, *baseBackoff)
	setDur(&cfg.Notify.MaxBackoff, *maxBackoff)
	setDur(&cfg.Notify.MaxAge, *maxAge)
	setDur(&cfg.Retention, *retention)
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, lo, err
	}
	return cfg, lo, nil
}

func run(args, environ []string, stderr io.Writer) int {
	cfg, lo, err := loadConfig(args, environ, stderr)
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "amdgw: %v\n", err)
		}
		return 2
	}
	lvl, err := zerolog.ParseLevel(lo.level)
	if err != nil {
		fmt.Fprintf(stderr, "amdgw: --log-level: %v\n", err)
		return 2
	}
	// Colours only on a terminal: logs piped to a file stay plain text.
	noColor := true
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			noColor = false
		}
	}
	var out io.Writer = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.RFC3339, NoColor: noColor}
	if lo.json {
		out = stderr
	}
	log := zerolog.New(out).Level(lvl).With().Timestamp().Str("svc", "amdgw").Logger()

	st, err := store.OpenSQLite(cfg.DB)
	if err != nil {
		log.Error().Err(err).Msg("open store")
		return 1
	}
	defer st.Close()
	gw, err := gateway.New(cfg, st, gateway.WithLogger(log))
	if err != nil {
		log.Error().Err(err).Msg("config")
		return 2
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Error().Err(err).Msg("listen")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	// The listening line is what scripts and tests wait for.
	log.Info().Str("listen", ln.Addr().String()).Strs("engines", cfg.Engines).Str("db", cfg.DB).Msg("amdgw listening")

	status := 0
	select {
	case <-ctx.Done():
	case err := <-srvDone:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server")
			status = 1
		}
		stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	stop()
	if err := <-runDone; err != nil {
		log.Error().Err(err).Msg("gateway")
		status = 1
	}
	log.Info().Msg("amdgw stopped")
	return status
}
