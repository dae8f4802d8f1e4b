package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "amdd.yaml")
	yml := `
sip_listen: 127.0.0.1:5070
control_listen: 127.0.0.1:9000
rtp_ports: 40000-40100
max_calls: 7
media_timeout: 3s
log_level: debug
trunks:
  - name: main
    host: carrier.example.net
    port: 5080
    username: alice
    password: secret
  - name: backup
    host: 10.0.0.9
`
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig([]string{"--config", file, "--max-calls", "9", "--trunk", "lab=sip:bob:pw@127.0.0.1:5090"},
		env(map[string]string{"AMD_MAX_CALLS": "8", "AMD_CONTROL_TOKEN": "tok", "AMD_MEDIA_TIMEOUT": "4s"}), io.Discard)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"sip_listen from file", cfg.SIPListen, "127.0.0.1:5070"},
		{"control_listen from file", cfg.ControlListen, "127.0.0.1:9000"},
		{"max_calls: flag beats env beats file", cfg.MaxCalls, 9},
		{"media_timeout: env beats file", cfg.MediaTimeout, 4 * time.Second},
		{"token from env", cfg.ControlToken, "tok"},
		{"log level from file", cfg.LogLevel, "debug"},
		{"ring timeout default", cfg.RingTimeout, DefaultRingTimeout},
		{"flag trunks replace file trunks", cfg.Trunks, []Trunk{{Name: "lab", Host: "127.0.0.1", Port: 5090, Username: "bob", Password: "pw"}}},
		{"media ip from sip host", cfg.EffectiveMediaIP(), "127.0.0.1"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	lo, hi := cfg.RTPRange()
	if lo != 40000 || hi != 40100 {
		t.Errorf("rtp range %d-%d", lo, hi)
	}

	// Without flag trunks, the file's trunks stay, digest credentials included.
	cfg, err = LoadConfig([]string{"--config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Trunks) != 2 || cfg.Trunks[0].Username != "alice" || cfg.Trunks[0].Port != 5080 || cfg.Trunks[1].Name != "backup" {
		t.Errorf("file trunks %+v", cfg.Trunks)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		yaml  string
		field string
	}{
		{"bad sip listen", []string{"--sip-listen", "nope"}, nil, "", "sip_listen"},
		{"bad control listen", []string{"--control-listen", "127.0.0.1:99999"}, nil, "", "control_listen"},
		{"rtp reversed", []string{"--rtp-ports", "40000-30000"}, nil, "", "rtp_ports"},
		{"rtp garbage", []string{"--rtp-ports", "lots"}, nil, "", "rtp_ports"},
		{"wildcard without media ip", []string{"--sip-listen", "0.0.0.0:5060"}, nil, "", "media_ip"},
		{"bad media ip", []string{"--media-ip", "my-host"}, nil, "", "media_ip"},
		{"max calls zero", []string{"--max-calls", "0"}, nil, "", "max_calls"},
		{"media timeout tiny", nil, map[string]string{"AMD_MEDIA_TIMEOUT": "1ms"}, "", "media_timeout"},
		{"history retention zero", []string{"--history-retention", "0s"}, nil, "", "history_retention"},
		{"history retention too long", nil, nil, "history_retention: 48h\n", "history_retention"},
		{"history max ended zero", nil, map[string]string{"AMD_HISTORY_MAX_ENDED": "0"}, "", "history_max_ended"},
		{"log level", []string{"--log-level", "loud"}, nil, "", "log_level"},
		{"log format", []string{"--log-format", "xml"}, nil, "", "log_format"},
		{"pprof", []string{"--pprof-listen", "x"}, nil, "", "pprof_listen"},
		{"webrtc udp not an address", []string{"--webrtc-udp", "8443"}, nil, "", "webrtc_udp"},
		{"webrtc udp host name", nil, map[string]string{"AMD_WEBRTC_UDP": "localhost:8443"}, "", "webrtc_udp"},
		{"webrtc public ip", []string{"--webrtc-public-ips", "203.0.113.7,my-host"}, nil, "", "webrtc_public_ips[1]"},
		{"yaml webrtc public ip", nil, nil, "webrtc_public_ips: [nope]\n", "webrtc_public_ips[0]"},
		{"dup trunk", []string{"--trunk", "a=sip:h1", "--trunk", "a=sip:h2"}, nil, "", "trunks[1].name"},
		{"yaml trunk without host", nil, nil, "trunks:\n  - name: x\n", "trunks[0].host"},
		{"yaml password without user", nil, nil, "trunks:\n  - name: x\n    host: h\n    password: p\n", "trunks[0].username"},
		{"yaml typo", nil, nil, "max_cals: 3\n", "max_cals"},
		{"env not a duration", nil, map[string]string{"AMD_RING_TIMEOUT": "soon"}, "", "AMD_RING_TIMEOUT"},
		{"flag not a number", []string{"--max-calls", "many"}, nil, "", "--max-calls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				f := filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(f, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", f}, args...)
			}
			_, err := LoadConfig(args, env(tc.env), io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %q", err, tc.field)
			}
			if !errors.Is(err, ErrInvalidConfig) && !strings.HasPrefix(tc.field, "--") {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestParseTrunk(t *testing.T) {
	tests := []struct {
		in   string
		want Trunk
		bad  bool
	}{
		{"main=sip:carrier.example.net", Trunk{Name: "main", Host: "carrier.example.net"}, false},
		{"main=sip:10.0.0.1:5080", Trunk{Name: "main", Host: "10.0.0.1", Port: 5080}, false},
		{"main=sip:alice:s3cr3t@10.0.0.1:5080", Trunk{Name: "main", Host: "10.0.0.1", Port: 5080, Username: "alice", Password: "s3cr3t"}, false},
		{"main=sip:alice@host", Trunk{Name: "main", Host: "host", Username: "alice"}, false},
		{"main=sip:u:p@ss@host", Trunk{Name: "main", Host: "host", Username: "u", Password: "p@ss"}, false},
		{"main=sip:[::1]:5060", Trunk{Name: "main", Host: "::1", Port: 5060}, false},
		{"sip:host", Trunk{}, true},
		{"main=http://host", Trunk{}, true},
		{"main=sip:h:port", Trunk{}, true},
		{"main=sip::p@h", Trunk{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTrunk(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted as %+v", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseTrunk: the trunk parser never panics, and what it accepts
// round-trips through the config validator without a panic either.
func FuzzParseTrunk(f *testing.F) {
	for _, s := range []string{"main=sip:h", "a=sip:u:p@h:1", "=", "x=sip:@", "x=sip:[::1]:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTrunk(s)
		if err != nil {
			return
		}
		if tr.Name == "" {
			t.Fatalf("accepted empty name from %q", s)
		}
		c := defaultConfig()
		c.Trunks = []Trunk{tr}
		_ = c.Validate()
	})
}

// TestExampleConfig keeps the shipped example loadable and equal to the
// defaults it documents (plus its one trunk).
func TestExampleConfig(t *testing.T) {
	cfg, err := LoadConfig([]string{"--config", "amdd.example.yaml"}, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	want := defaultConfig()
	want.Trunks = []Trunk{{Name: "main", Host: "127.0.0.1", Port: 5070}}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("example config\n got %+v\nwant %+v", cfg, want)
	}
}

// FuzzConfigYAML: any file content either fails to decode or decodes into
// a config that Validate judges without panicking; what Validate accepts
// must also be a config the SIP side accepts.
func FuzzConfigYAML(f *testing.F) {
	if b, err := os.ReadFile("amdd.example.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"", "max_calls: 3\n", "trunks:\n  - name: a\n    host: h\n", "rtp_ports: 2000-1000\n", "media_timeout: 1h\n", "{}", "[]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := defaultConfig()
		if err := decodeYAML(bytes.NewReader(data), &cfg); err != nil {
			return
		}
		if cfg.Validate() != nil {
			return
		}
		sc := serviceConfig(cfg, zerolog.Nop())
		if err := sc.SIP.WithDefaults().Validate(); err != nil {
			t.Fatalf("amdd accepted a config the SIP side refuses: %v\n%s", err, data)
		}
	})
}
