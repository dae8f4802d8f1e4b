package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/amd-engine/amd/daemon"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// Defaults of every knob, named so the docs, the flags and the tests agree.
const (
	DefaultSIPListen       = "127.0.0.1:5060"
	DefaultControlListen   = "127.0.0.1:8081"
	DefaultRTPPorts        = "30000-39999"
	DefaultMaxCalls        = 100
	DefaultMediaTimeout    = 5 * time.Second
	DefaultRingTimeout     = 60 * time.Second
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultHistoryRetention and DefaultHistoryMaxEnded: how long, and how
	// many, ended calls' histories still answer subscribe (a client that
	// restarted catches up on what it missed).
	DefaultHistoryRetention = daemon.DefaultHistoryRetention
	DefaultHistoryMaxEnded  = daemon.DefaultHistoryMaxEnded
	// envPrefix prefixes every environment variable (AMD_SIP_LISTEN, ...).
	envPrefix = "AMD_"
)

// ErrInvalidConfig is wrapped by every configuration error; the message
// names the field as spelt in the YAML file.
var ErrInvalidConfig = errors.New("invalid config")

// Config is amdd's whole configuration. Precedence, lowest first: the
// defaults above, the YAML file (--config), AMD_* environment variables,
// command-line flags.
type Config struct {
	// SIPListen is the UDP address the SIP user agent binds (--sip-listen).
	SIPListen string `yaml:"sip_listen"`
	// ControlListen serves /v1/control (WebSocket), /metrics and /healthz.
	ControlListen string `yaml:"control_listen"`
	// ControlToken, when set, is required as "Authorization: Bearer" on the
	// control channel. Prefer AMD_CONTROL_TOKEN to a flag (ps shows flags).
	ControlToken string `yaml:"control_token"`
	// RTPPorts is the inclusive UDP port range for call media, "LOW-HIGH".
	RTPPorts string `yaml:"rtp_ports"`
	// MediaIP is the address put in SDP; empty means the SIP listen host
	// (which must then not be a wildcard).
	MediaIP string `yaml:"media_ip"`
	// Trunks are the SIP trunks; the first is the default for dials that
	// name none. Flag form: --trunk name=sip:[user[:password]@]host[:port].
	Trunks []Trunk `yaml:"trunks"`
	// MaxCalls bounds concurrent calls; further dials get at_capacity.
	MaxCalls int `yaml:"max_calls"`
	// MediaTimeout: no RTP for this long after the answer is an amd_error
	// (media_timeout) and amdd hangs up.
	MediaTimeout time.Duration `yaml:"media_timeout"`
	// RingTimeout is the dial timeout for dials without timeoutInMs.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// HistoryRetention is how long an ended call's history answers
	// subscribe, so a client restarted after a crash replays what it missed.
	HistoryRetention time.Duration `yaml:"history_retention"`
	// HistoryMaxEnded bounds the ended calls whose history is kept at once
	// (the oldest are forgotten first).
	HistoryMaxEnded int `yaml:"history_max_ended"`
	// LogLevel is zerolog's level: trace, debug, info, warn, error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is json (for machines) or console (for people).
	LogFormat string `yaml:"log_format"`
	// PprofListen, when set, serves net/http/pprof there (keep it on loopback).
	PprofListen string `yaml:"pprof_listen"`
	// ShutdownTimeout bounds the graceful stop (hangups, socket close).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// WebRTCUDP, when set, enables the WebRTC leg: the one ICE UDP address
	// all peer connections share (e.g. 127.0.0.1:8443). WHIP is then served
	// at /v1/whip on the control listener and webrtc.offer is accepted.
	WebRTCUDP string `yaml:"webrtc_udp"`
	// WebRTCPublicIPs replace the ICE host candidates' addresses in SDP
	// answers: the public address(es) of a host behind 1:1 NAT (a cloud VM).
	// Flag and env: comma-separated.
	WebRTCPublicIPs []string `yaml:"webrtc_public_ips"`
}

// Trunk is one SIP trunk. Username/Password enable digest authentication.
type Trunk struct {
	// Name is what dial commands put in "trunk".
	Name string `yaml:"name"`
	// Host is the trunk's address (name or IP).
	Host string `yaml:"host"`
	// Port is the trunk's SIP port; 0 means 5060.
	Port int `yaml:"port"`
	// Username for digest authentication (optional).
	Username string `yaml:"username"`
	// Password for digest authentication (optional).
	Password string `yaml:"password"`
}

// defaultConfig returns the defaults.
func defaultConfig() Config {
	return Config{
		SIPListen: DefaultSIPListen, ControlListen: DefaultControlListen, RTPPorts: DefaultRTPPorts,
		MaxCalls: DefaultMaxCalls, MediaTimeout: DefaultMediaTimeout, RingTimeout: DefaultRingTimeout,
		LogLevel: DefaultLogLevel, LogFormat: DefaultLogFormat, ShutdownTimeout: DefaultShutdownTimeout,
		HistoryRetention: DefaultHistoryRetention, HistoryMaxEnded: DefaultHistoryMaxEnded,
	}
}

// knob is one setting reachable from a flag and an environment variable.
type knob struct {
	name  string // flag name; env is AMD_ + upper snake
	usage string
	set   func(c *Config, v string) error
}

func durationSetter(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*dst(c) = d
		return nil
	}
}

func stringSetter(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

var knobs = []knob{
	{"sip-listen", "SIP UDP listen address (default " + DefaultSIPListen + ")", stringSetter(func(c *Config) *string { return &c.SIPListen })},
	{"control-listen", "control channel, /metrics and /healthz listen address (default " + DefaultControlListen + ")", stringSetter(func(c *Config) *string { return &c.ControlListen })},
	{"control-token", "bearer token required on the control channel (prefer AMD_CONTROL_TOKEN)", stringSetter(func(c *Config) *string { return &c.ControlToken })},
	{"rtp-ports", "RTP port range LOW-HIGH (default " + DefaultRTPPorts + ")", stringSetter(func(c *Config) *string { return &c.RTPPorts })},
	{"media-ip", "IP address put in SDP (default: the SIP listen host)", stringSetter(func(c *Config) *string { return &c.MediaIP })},
	{"max-calls", "maximum concurrent calls (default " + strconv.Itoa(DefaultMaxCalls) + ")", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.MaxCalls = n
		return err
	}},
	{"media-timeout", "no RTP this long after answer = amd_error and hangup (default " + DefaultMediaTimeout.String() + ")", durationSetter(func(c *Config) *time.Duration { return &c.MediaTimeout })},
	{"ring-timeout", "dial timeout when a dial sets no timeoutInMs (default " + DefaultRingTimeout.String() + ")", durationSetter(func(c *Config) *time.Duration { return &c.RingTimeout })},
	{"history-retention", "how long an ended call's history answers subscribe (default " + DefaultHistoryRetention.String() + ")", durationSetter(func(c *Config) *time.Duration { return &c.HistoryRetention })},
	{"history-max-ended", "ended calls whose history is kept at once (default " + strconv.Itoa(DefaultHistoryMaxEnded) + ")", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.HistoryMaxEnded = n
		return err
	}},
	{"log-level", "trace, debug, info, warn or error (default " + DefaultLogLevel + ")", stringSetter(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", "json or console (default " + DefaultLogFormat + ")", stringSetter(func(c *Config) *string { return &c.LogFormat })},
	{"pprof-listen", "serve net/http/pprof on this address (default: off)", stringSetter(func(c *Config) *string { return &c.PprofListen })},
	{"webrtc-public-ips", "comma-separated public IPs announced as WebRTC host candidates (1:1 NAT; default: the bound address)", func(c *Config, v string) error {
		c.WebRTCPublicIPs = nil
		for _, ip := range strings.Split(v, ",") {
			if ip = strings.TrimSpace(ip); ip != "" {
				c.WebRTCPublicIPs = append(c.WebRTCPublicIPs, ip)
			}
		}
		return nil
	}},
	{"webrtc-udp", "enable WebRTC (WHIP at /v1/whip, webrtc.offer) with ICE on this one UDP address (default: off)", stringSetter(func(c *Config) *string { return &c.WebRTCUDP })},
	{"shutdown-timeout", "bound on the graceful stop (default " + DefaultShutdownTimeout.String() + ")", durationSetter(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// LoadConfig builds the configuration from args (without the program
// name) and the environment, then validates it.
func LoadConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("amdd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv(envPrefix+"CONFIG"), "YAML config file (env AMD_CONFIG)")
	type setting struct {
		k knob
		v string
	}
	var fromFlags []setting
	for _, k := range knobs {
		k := k
		fs.Func(k.name, k.usage+" (env "+envName(k.name)+")", func(v string) error {
			fromFlags = append(fromFlags, setting{k, v})
			return nil
		})
	}
	var flagTrunks []Trunk
	fs.Func("trunk", "trunk name=sip:[user[:password]@]host[:port], repeatable; the first is the default (env AMD_TRUNKS, comma-separated)", func(v string) error {
		t, err := ParseTrunk(v)
		if err != nil {
			return err
		}
		flagTrunks = append(flagTrunks, t)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: amdd [--config FILE] [flags]\n\namdd dials out over SIP and reports answering-machine detection over a WebSocket control channel.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	cfg := defaultConfig()
	if *configPath != "" {
		if err := loadYAML(*configPath, &cfg); err != nil {
			return Config{}, err
		}
	}
	for _, k := range knobs {
		if v := getenv(envName(k.name)); v != "" {
			if err := k.set(&cfg, v); err != nil {
				return Config{}, fmt.Errorf("%w: env %s=%q: %v", ErrInvalidConfig, envName(k.name), v, err)
			}
		}
	}
	if v := getenv(envPrefix + "TRUNKS"); v != "" {
		cfg.Trunks = nil
		for _, spec := range strings.Split(v, ",") {
			t, err := ParseTrunk(strings.TrimSpace(spec))
			if err != nil {
				return Config{}, fmt.Errorf("%w: env AMD_TRUNKS: %v", ErrInvalidConfig, err)
			}
			cfg.Trunks = append(cfg.Trunks, t)
		}
	}
	for _, s := range fromFlags {
		if err := s.k.set(&cfg, s.v); err != nil {
			return Config{}, fmt.Errorf("%w: --%s %q: %v", ErrInvalidConfig, s.k.name, s.v, err)
		}
	}
	if len(flagTrunks) > 0 {
		cfg.Trunks = flagTrunks
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func loadYAML(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if err := decodeYAML(f, cfg); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, path, err)
	}
	return nil
}

// decodeYAML reads one YAML document over cfg; an empty file changes
// nothing.
func decodeYAML(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true) // a typo in a knob name must not be silently ignored
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ParseTrunk parses name=sip:[user[:password]@]host[:port].
func ParseTrunk(spec string) (Trunk, error) {
	name, uri, ok := strings.Cut(spec, "=")
	if !ok || name == "" {
		return Trunk{}, fmt.Errorf("trunk %q: want name=sip:[user[:password]@]host[:port]", spec)
	}
	rest, ok := strings.CutPrefix(uri, "sip:")
	if !ok {
		return Trunk{}, fmt.Errorf("trunk %q: URI must start with sip:", name)
	}
	t := Trunk{Name: name}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		cred := rest[:at]
		rest = rest[at+1:]
		t.Username, t.Password, _ = strings.Cut(cred, ":")
		if t.Username == "" {
			return Trunk{}, fmt.Errorf("trunk %q: empty username before @", name)
		}
	}
	host, port := rest, ""
	if h, p, err := net.SplitHostPort(rest); err == nil {
		host, port = h, p
	}
	t.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			return Trunk{}, fmt.Errorf("trunk %q: port %q: %v", name, port, err)
		}
		t.Port = n
	}
	return t, nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

func checkHostPort(field, v string, required bool) error {
	if v == "" {
		if required {
			return invalid(field, "required")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return invalid(field, "%q: %v", v, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return invalid(field, "%q: port must be 0..65535", v)
	}
	return nil
}

// RTPRange parses RTPPorts; call after Validate.
func (c Config) RTPRange() (lo, hi int) {
	l, h, _ := strings.Cut(c.RTPPorts, "-")
	lo, _ = strconv.Atoi(strings.TrimSpace(l))
	hi, _ = strconv.Atoi(strings.TrimSpace(h))
	return lo, hi
}

// EffectiveMediaIP is MediaIP, or the SIP listen host when MediaIP is empty.
func (c Config) EffectiveMediaIP() string {
	if c.MediaIP != "" {
		return c.MediaIP
	}
	h, _, _ := net.SplitHostPort(c.SIPListen)
	return h
}

// Validate reports the first invalid field, named as in the YAML file.
func (c Config) Validate() error {
	if _, err := netip.ParseAddrPort(c.SIPListen); err != nil {
		// The SIP stack binds an IP, not a name: say so here, by field.
		return invalid("sip_listen", "%q: want IP:port (e.g. %s)", c.SIPListen, DefaultSIPListen)
	}
	if err := checkHostPort("control_listen", c.ControlListen, true); err != nil {
		return err
	}
	if err := checkHostPort("pprof_listen", c.PprofListen, false); err != nil {
		return err
	}
	if err := checkHostPort("webrtc_udp", c.WebRTCUDP, false); err != nil {
		return err
	}
	if h, _, _ := net.SplitHostPort(c.WebRTCUDP); h != "" && net.ParseIP(h) == nil {
		// ICE candidates carry addresses, not names.
		return invalid("webrtc_udp", "%q: host must be an IP address", c.WebRTCUDP)
	}
	for i, ip := range c.WebRTCPublicIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return invalid(fmt.Sprintf("webrtc_public_ips[%d]", i), "%q is not an IP address", ip)
		}
	}
	l, h, ok := strings.Cut(c.RTPPorts, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(l))
	hi, err2 := strconv.Atoi(strings.TrimSpace(h))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return invalid("rtp_ports", "%q: want LOW-HIGH, e.g. %s", c.RTPPorts, DefaultRTPPorts)
	case lo < 1024 || hi > 65534 || lo >= hi:
		// RTP takes even ports and RTCP the odd one above: HIGH stops at 65534.
		return invalid("rtp_ports", "%q: want 1024 <= LOW < HIGH <= 65534", c.RTPPorts)
	}
	if c.MediaIP != "" {
		if _, err := netip.ParseAddr(c.MediaIP); err != nil {
			return invalid("media_ip", "%q is not an IP address", c.MediaIP)
		}
	} else {
		host, _, _ := net.SplitHostPort(c.SIPListen)
		a, err := netip.ParseAddr(host)
		if err != nil || a.IsUnspecified() {
			return invalid("media_ip", "required when sip_listen (%q) is not a specific IP address", c.SIPListen)
		}
	}
	seen := map[string]bool{}
	for i, t := range c.Trunks {
		field := fmt.Sprintf("trunks[%d]", i)
		switch {
		case t.Name == "":
			return invalid(field+".name", "required")
		case strings.ContainsAny(t.Name, " \t,=/"):
			return invalid(field+".name", "%q: no spaces, commas, = or /", t.Name)
		case seen[t.Name]:
			return invalid(field+".name", "%q listed twice", t.Name)
		case t.Host == "":
			return invalid(field+".host", "required")
		case t.Port < 0 || t.Port > 65535:
			return invalid(field+".port", "%d: want 0..65535", t.Port)
		case t.Password != "" && t.Username == "":
			return invalid(field+".username", "required with a password")
		}
		seen[t.Name] = true
	}
	if c.MaxCalls < 1 || c.MaxCalls > 100000 {
		return invalid("max_calls", "%d: want 1..100000", c.MaxCalls)
	}
	if c.MediaTimeout < 100*time.Millisecond || c.MediaTimeout > 10*time.Minute {
		return invalid("media_timeout", "%v: want 100ms..10m", c.MediaTimeout)
	}
	if c.RingTimeout < time.Second || c.RingTimeout > 5*time.Minute {
		return invalid("ring_timeout", "%v: want 1s..5m", c.RingTimeout)
	}
	if c.HistoryRetention < time.Second || c.HistoryRetention > 24*time.Hour {
		return invalid("history_retention", "%v: want 1s..24h", c.HistoryRetention)
	}
	if c.HistoryMaxEnded < 1 || c.HistoryMaxEnded > 1000000 {
		return invalid("history_max_ended", "%d: want 1..1000000", c.HistoryMaxEnded)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		return invalid("log_level", "%q: want trace, debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return invalid("log_format", "%q: want json or console", c.LogFormat)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
		return invalid("shutdown_timeout", "%v: want 1s..10m", c.ShutdownTimeout)
	}
	return nil
}
