package main

import (
	"io"
	"slices"
	"testing"

	"github.com/rs/zerolog"
)

// TestWebRTCConfig: the WebRTC knobs reach the daemon from flags, env and
// YAML with the usual precedence, and WebRTC stays off by default.
func TestWebRTCConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		udp     string
		public  []string
		enabled bool
	}{
		{"off by default", nil, nil, "", nil, false},
		{"flags", []string{"--webrtc-udp", "127.0.0.1:8443", "--webrtc-public-ips", "203.0.113.7, 198.51.100.2"}, nil,
			"127.0.0.1:8443", []string{"203.0.113.7", "198.51.100.2"}, true},
		{"env", nil, map[string]string{"AMD_WEBRTC_UDP": ":9443", "AMD_WEBRTC_PUBLIC_IPS": "203.0.113.9"}, ":9443", []string{"203.0.113.9"}, true},
		{"flag beats env", []string{"--webrtc-udp", "127.0.0.1:1"}, map[string]string{"AMD_WEBRTC_UDP": "127.0.0.1:2"}, "127.0.0.1:1", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			sc := serviceConfig(cfg, zerolog.Nop())
			if sc.WebRTC.UDPListen != tc.udp || !slices.Equal(sc.WebRTC.PublicIPs, tc.public) || sc.WebRTC.Enabled() != tc.enabled {
				t.Errorf("daemon WebRTC config %+v, want udp %q public %v enabled %v", sc.WebRTC, tc.udp, tc.public, tc.enabled)
			}
		})
	}
}
