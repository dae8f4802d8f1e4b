package loadgen

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	amdsip "github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

// Defaults for Config's zero values.
const (
	DefaultEngineURL   = "ws://127.0.0.1:8081/v1/control"
	DefaultSIPListen   = "127.0.0.1:5070"
	DefaultMaxDuration = 10 * time.Minute
	DefaultRingDelay   = 100 * time.Millisecond
	// DefaultHoldAfterClip is how long past the end of its clip a decided
	// call stays up before the generator hangs it up; undecided calls get
	// DefaultDecisionGrace more before they are given up on.
	DefaultHoldAfterClip = 200 * time.Millisecond
	DefaultDecisionGrace = 15 * time.Second
	// DefaultAnswerTimeout bounds dial → answer; a call not answered by
	// then is hung up and counted as not answered.
	DefaultAnswerTimeout = 30 * time.Second
)

// Config is one load run.
type Config struct {
	// EngineURL is amdd's control channel, ws://loopback:port/v1/control.
	EngineURL string
	// Token is the control channel's bearer token, if amdd wants one.
	Token string
	// Calls is how many calls to place in total; Concurrency how many may be
	// up at once; CPS, when > 0, caps new dials per second.
	Calls, Concurrency int
	CPS                float64
	// Audio is a directory holding manifest.jsonl and the clips it names.
	Audio string
	// Codec the callee answers with (and the dial asks for).
	Codec amdsip.Codec
	// SIPListen is the callee's SIP UDP address (loopback only).
	SIPListen string
	// EnginePID is amdd's process for CPU/RSS; 0 finds it from the control
	// listener's port (FindListenerPID), -1 disables process figures.
	EnginePID int
	// MetricsURL is amdd's Prometheus endpoint; empty derives it from
	// EngineURL (same host and port, path /metrics).
	MetricsURL string
	// MaxDuration bounds the whole run.
	MaxDuration time.Duration
	// RingDelay between 180 Ringing and 200 OK.
	RingDelay time.Duration
	// HoldAfterClip and DecisionGrace: see the defaults.
	HoldAfterClip, DecisionGrace time.Duration
	// Pacers is the number of sender goroutines; 0 means one per CPU (max 4).
	Pacers int
	Log    zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.EngineURL == "" {
		c.EngineURL = DefaultEngineURL
	}
	if c.SIPListen == "" {
		c.SIPListen = DefaultSIPListen
	}
	if c.Codec == "" {
		c.Codec = amdsip.CodecPCMU
	}
	if c.MaxDuration == 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.RingDelay == 0 {
		c.RingDelay = DefaultRingDelay
	}
	if c.HoldAfterClip == 0 {
		c.HoldAfterClip = DefaultHoldAfterClip
	}
	if c.DecisionGrace == 0 {
		c.DecisionGrace = DefaultDecisionGrace
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
}

// Validate checks the config after defaults; errors wrap ErrConfig or
// ErrNotLoopback and name the flag.
func (c *Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Calls <= 0:
		return fmt.Errorf("%w: --calls must be positive", ErrConfig)
	case c.Concurrency <= 0:
		return fmt.Errorf("%w: --concurrency must be positive", ErrConfig)
	case c.CPS < 0:
		return fmt.Errorf("%w: --cps must not be negative", ErrConfig)
	case c.Audio == "":
		return fmt.Errorf("%w: --audio is required", ErrConfig)
	case c.MaxDuration < 0:
		return fmt.Errorf("%w: --max-duration must be positive", ErrConfig)
	case c.RingDelay < 0:
		return fmt.Errorf("%w: --ring-ms must not be negative", ErrConfig)
	}
	switch c.Codec {
	case amdsip.CodecPCMU, amdsip.CodecPCMA, amdsip.CodecOpus:
	default:
		return fmt.Errorf("%w: --codec %q: want pcmu, pcma or opus", ErrConfig, c.Codec)
	}
	u, err := url.Parse(c.EngineURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("%w: --engine %q: want ws://host:port/v1/control", ErrConfig, c.EngineURL)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%w: --engine host %q", ErrNotLoopback, u.Hostname())
	}
	if c.MetricsURL == "" {
		c.MetricsURL = "http://" + u.Host + "/metrics"
		if u.Scheme == "wss" {
			c.MetricsURL = "https://" + u.Host + "/metrics"
		}
	}
	mu, err := url.Parse(c.MetricsURL)
	if err != nil || (mu.Scheme != "http" && mu.Scheme != "https") {
		return fmt.Errorf("%w: --engine-metrics %q: want http://host:port/metrics", ErrConfig, c.MetricsURL)
	}
	if !loopbackHost(mu.Hostname()) {
		return fmt.Errorf("%w: --engine-metrics host %q", ErrNotLoopback, mu.Hostname())
	}
	host, _, err := net.SplitHostPort(c.SIPListen)
	if err != nil {
		return fmt.Errorf("%w: --sip-listen %q: want IP:port", ErrConfig, c.SIPListen)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		// The callee's address goes into every dial's target and SDP, so
		// it must be an IP literal, and a loopback one.
		return fmt.Errorf("%w: --sip-listen host %q (want 127.0.0.1 or ::1)", ErrNotLoopback, host)
	}
	return nil
}

// loopbackHost accepts loopback IP literals and "localhost": names are not
// resolved, so a DNS answer cannot turn a benchmark into real calls.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}
