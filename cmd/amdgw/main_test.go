package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/amd-engine/amd/gateway"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "amdgw.yaml")
	if err := os.WriteFile(file, []byte(`
listen: 127.0.0.1:7000
engines: [ws://file:1/v1/control]
jwt_secret: file-jwt-secret
signing_secret: file-signing-secret
engine_loss_timeout: 45s
notify:
  max_backoff: 2m
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("jwt_secrett: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"--jwt-secret", "flag-jwt-secret", "--signing-secret", "flag-signing-secret"}
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(t *testing.T, c gateway.Config)
		err   error
	}{
		{"defaults", secrets, nil, func(t *testing.T, c gateway.Config) {
			if c.Listen != gateway.DefaultListen || !slices.Equal(c.Engines, []string{gateway.DefaultEngine}) || c.DB != gateway.DefaultDB ||
				c.EngineLossTimeout != gateway.DefaultEngineLossTimeout || c.Notify.MaxAge != 24*time.Hour {
				t.Fatalf("%+v", c)
			}
		}, nil},
		{"env secrets", nil, []string{"AMD_JWT_SECRET=env-jwt-secret", "AMD_SIGNING_SECRET=env-signing-secret", "AMD_ENGINES=ws://a:1/x, ws://b:2/x"}, func(t *testing.T, c gateway.Config) {
			if c.JWTSecret != "env-jwt-secret" || c.SigningSecret != "env-signing-secret" || !slices.Equal(c.Engines, []string{"ws://a:1/x", "ws://b:2/x"}) {
				t.Fatalf("%+v", c)
			}
		}, nil},
		{"flags beat env", append([]string{"--engine", "ws://c:3/x", "--listen", "127.0.0.1:9999"}, secrets...),
			[]string{"AMD_JWT_SECRET=env-jwt-secret", "AMD_ENGINES=ws://a:1/x", "AMD_LISTEN=127.0.0.1:1"}, func(t *testing.T, c gateway.Config) {
				if c.JWTSecret != "flag-jwt-secret" || !slices.Equal(c.Engines, []string{"ws://c:3/x"}) || c.Listen != "127.0.0.1:9999" {
					t.Fatalf("%+v", c)
				}
			}, nil},
		{"file, env over file", []string{"--config", file}, []string{"AMD_SIGNING_SECRET=env-signing-secret"}, func(t *testing.T, c gateway.Config) {
			if c.Listen != "127.0.0.1:7000" || c.JWTSecret != "file-jwt-secret" || c.SigningSecret != "env-signing-secret" ||
				c.EngineLossTimeout != 45*time.Second || c.Notify.MaxBackoff != 2*time.Minute || c.Engines[0] != "ws://file:1/v1/control" {
				t.Fatalf("%+v", c)
			}
		}, nil},
		{"missing secrets", nil, nil, nil, gateway.ErrInvalidConfig},
		{"bad engine URL", append([]string{"--engine", "http://x"}, secrets...), nil, nil, gateway.ErrInvalidConfig},
		{"bad listen", append([]string{"--listen", "nope"}, secrets...), nil, nil, gateway.ErrInvalidConfig},
		{"unknown yaml key", []string{"--config", bad}, nil, nil, nil},
		{"unknown flag", []string{"--nope"}, nil, nil, errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := loadConfig(tc.args, tc.env, &bytes.Buffer{})
			if tc.check == nil {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--engine", "ftp://x"}, nil, &stderr); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !bytes.Contains(stderr.Bytes(), []byte(`engine: "ftp://x"`)) {
		t.Fatalf("stderr: %s", stderr.String())
	}
}
