package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/amd-engine/amd/gateway/notify"
)

// Defaults of Config.
const (
	DefaultListen = "127.0.0.1:8080"
	DefaultEngine = "ws://127.0.0.1:8081/v1/control"
	DefaultDB     = "./amdgw.db"
	// DefaultEngineLossTimeout is how long a call whose engine connection
	// was lost (or whose gateway restarted) may stay unheard of before it is
	// marked Failed with amd_error. It is longer than a normal ring so a
	// reconnect during ringing still sees the answer.
	DefaultEngineLossTimeout = 90 * time.Second
	// DefaultDialAckTimeout bounds the wait for the engine's dial ack.
	DefaultDialAckTimeout = 10 * time.Second
	DefaultReconnectMin   = 200 * time.Millisecond
	DefaultReconnectMax   = 10 * time.Second
	// DefaultResolveInterval is how often lost calls are looked for.
	DefaultResolveInterval = time.Second
	minSecretBytes         = 8
	// DefaultRetention is how long settled calls stay in the store.
	DefaultRetention = 30 * 24 * time.Hour
	// pruneInterval is how often old calls are pruned.
	pruneInterval = time.Hour
)

// ErrInvalidConfig is wrapped by every Config.Validate error.
var ErrInvalidConfig = errors.New("invalid config")

// NotifyConfig is the notification delivery policy.
type NotifyConfig struct {
	// BaseBackoff is the first retry delay; it doubles per attempt.
	BaseBackoff time.Duration `yaml:"base_backoff"`
	// MaxBackoff caps the retry delay.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxAge is how long a notification is retried before it is recorded failed.
	MaxAge time.Duration `yaml:"max_age"`
	// AttemptTimeout bounds one POST.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
	// Workers bounds concurrent POSTs (across calls; one per call).
	Workers int `yaml:"workers"`
}

// Config is amdgw's configuration.
type Config struct {
	// Listen is the HTTP address of the API, page, /metrics and /healthz.
	Listen string `yaml:"listen"`
	// Engines are amdd control channel URLs; calls go round-robin to those up.
	Engines []string `yaml:"engines"`
	// EngineToken is the bearer token the engines require ("" for none).
	EngineToken string `yaml:"engine_token"`
	// JWTSecret verifies the API's HS256 tokens (header "auth").
	JWTSecret string `yaml:"jwt_secret"`
	// SigningSecret keys the notifications' SAVG-Signature.
	SigningSecret string `yaml:"signing_secret"`
	// DB is the SQLite file of call records and the outbox.
	DB string `yaml:"db"`
	// EngineLossTimeout: see DefaultEngineLossTimeout.
	EngineLossTimeout time.Duration `yaml:"engine_loss_timeout"`
	// DialAckTimeout: see DefaultDialAckTimeout.
	DialAckTimeout time.Duration `yaml:"dial_ack_timeout"`
	// ReconnectMin and ReconnectMax bound the engine reconnect backoff.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// ResolveInterval: see DefaultResolveInterval.
	ResolveInterval time.Duration `yaml:"resolve_interval"`
	// Retention is how long a settled call (final status, every
	// notification delivered or given up) is kept; calls still owing a
	// notification are kept whatever their age.
	Retention time.Duration `yaml:"retention"`
	// Notify is the delivery policy.
	Notify NotifyConfig `yaml:"notify"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if len(c.Engines) == 0 {
		c.Engines = []string{DefaultEngine}
	}
	if c.DB == "" {
		c.DB = DefaultDB
	}
	if c.EngineLossTimeout == 0 {
		c.EngineLossTimeout = DefaultEngineLossTimeout
	}
	if c.DialAckTimeout == 0 {
		c.DialAckTimeout = DefaultDialAckTimeout
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ResolveInterval == 0 {
		c.ResolveInterval = DefaultResolveInterval
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	p := notify.DefaultPolicy()
	n := &c.Notify
	if n.BaseBackoff == 0 {
		n.BaseBackoff = p.BaseBackoff
	}
	if n.MaxBackoff == 0 {
		n.MaxBackoff = p.MaxBackoff
	}
	if n.MaxAge == 0 {
		n.MaxAge = p.MaxAge
	}
	if n.AttemptTimeout == 0 {
		n.AttemptTimeout = p.AttemptTimeout
	}
	if n.Workers == 0 {
		n.Workers = notify.DefaultWorkers
	}
	return c
}

// Validate reports the first invalid field, by its flag name.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q: %v", c.Listen, err)
	}
	if len(c.Engines) == 0 {
		return bad("engine", "at least one engine URL is required")
	}
	seen := map[string]bool{}
	for _, e := range c.Engines {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return bad("engine", "%q is not a ws:// or wss:// URL", e)
		}
		if seen[e] {
			return bad("engine", "%q given twice", e)
		}
		seen[e] = true
	}
	if len(c.JWTSecret) < minSecretBytes {
		return bad("jwt-secret", "at least %d bytes required (AMD_JWT_SECRET)", minSecretBytes)
	}
	if len(c.SigningSecret) < minSecretBytes {
		return bad("signing-secret", "at least %d bytes required (AMD_SIGNING_SECRET)", minSecretBytes)
	}
	if c.DB == "" {
		return bad("db", "required")
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"engine-loss-timeout", c.EngineLossTimeout}, {"dial-ack-timeout", c.DialAckTimeout},
		{"reconnect-min", c.ReconnectMin}, {"reconnect-max", c.ReconnectMax}, {"resolve-interval", c.ResolveInterval}, {"retention", c.Retention},
		{"notify.base_backoff", c.Notify.BaseBackoff}, {"notify.max_backoff", c.Notify.MaxBackoff},
		{"notify.max_age", c.Notify.MaxAge}, {"notify.attempt_timeout", c.Notify.AttemptTimeout},
	}
	for _, d := range durations {
		if d.d <= 0 {
			return bad(d.name, "%s: must be positive", d.d)
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		return bad("reconnect-max", "%s is below reconnect-min %s", c.ReconnectMax, c.ReconnectMin)
	}
	if c.Notify.MaxBackoff < c.Notify.BaseBackoff {
		return bad("notify.max_backoff", "%s is below base_backoff %s", c.Notify.MaxBackoff, c.Notify.BaseBackoff)
	}
	if c.Notify.Workers < 1 {
		return bad("notify.workers", "%d: want at least 1", c.Notify.Workers)
	}
	return nil
}

func (n NotifyConfig) policy() notify.Policy {
	return notify.Policy{BaseBackoff: n.BaseBackoff, MaxBackoff: n.MaxBackoff, MaxAge: n.MaxAge, AttemptTimeout: n.AttemptTimeout}
}
