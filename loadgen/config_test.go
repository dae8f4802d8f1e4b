package loadgen

import (
	"errors"
	"testing"

	amdsip "github.com/amd-engine/amd/sip"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := func() Config { return Config{Calls: 1, Concurrency: 1, Audio: "x"} }
	tests := []struct {
		name   string
		mutate func(*Config)
		want   error
	}{
		{"defaults", func(*Config) {}, nil},
		{"ipv6 loopback and localhost", func(c *Config) {
			c.EngineURL, c.SIPListen = "ws://localhost:9/v1/control", "[::1]:5070"
		}, nil},
		{"no calls", func(c *Config) { c.Calls = 0 }, ErrConfig},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, ErrConfig},
		{"negative cps", func(c *Config) { c.CPS = -1 }, ErrConfig},
		{"no audio", func(c *Config) { c.Audio = "" }, ErrConfig},
		{"bad codec", func(c *Config) { c.Codec = amdsip.Codec("g729") }, ErrConfig},
		{"http engine", func(c *Config) { c.EngineURL = "http://127.0.0.1:8081/v1/control" }, ErrConfig},
		{"remote engine", func(c *Config) { c.EngineURL = "ws://10.0.0.5:8081/v1/control" }, ErrNotLoopback},
		{"named engine", func(c *Config) { c.EngineURL = "ws://amdd.example.com:8081/v1/control" }, ErrNotLoopback},
		{"remote metrics", func(c *Config) { c.MetricsURL = "http://192.168.1.1:8081/metrics" }, ErrNotLoopback},
		{"wildcard sip", func(c *Config) { c.SIPListen = "0.0.0.0:5070" }, ErrNotLoopback},
		{"named sip", func(c *Config) { c.SIPListen = "localhost:5070" }, ErrNotLoopback},
		{"sip no port", func(c *Config) { c.SIPListen = "127.0.0.1" }, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
	c := ok()
	if err := c.Validate(); err != nil || c.MetricsURL != "http://127.0.0.1:8081/metrics" {
		t.Fatalf("derived metrics URL %q (%v)", c.MetricsURL, err)
	}
}
