package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/notify"
)

func TestTokenAcceptedByGatewayVerifier(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		verifies bool
	}{
		{"ok", []string{"--secret", "s3cret-value", "--app-id", "demo"}, 0, true},
		{"short ttl", []string{"--secret", "s3cret-value", "--ttl", "1m"}, 0, true},
		{"no secret", []string{}, 2, false},
		{"negative ttl", []string{"--secret", "s3cret-value", "--ttl", "-1h"}, 2, false},
		{"stray arg", []string{"--secret", "x", "extra"}, 2, false},
	}
	t.Setenv("AMD_JWT_SECRET", "")
	v, _ := auth.NewVerifier([]byte("s3cret-value"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := dispatch(append([]string{"token"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (%s)", code, tc.code, errb.String())
			}
			if !tc.verifies {
				return
			}
			c, err := v.Verify(strings.TrimSpace(out.String()))
			if err != nil {
				t.Fatalf("gateway refuses the token: %v", err)
			}
			if tc.name == "ok" && c.AppID != "demo" {
				t.Fatalf("appId %q", c.AppID)
			}
		})
	}
}

func TestSinkVerifiesSignature(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("sink-secret")
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- serveSink(ctx, ln, secret, out, &bytes.Buffer{}) }()
	url := "http://" + ln.Addr().String() + "/notify"
	body := []byte(`{"conversationId":"c1","status":"Call-In-Progress","machineDetection":{"event":"amd_machine_detected"}}`)
	post := func(sig, key string) int {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set(notify.SignatureHeader, sig)
		req.Header.Set(notify.IdempotencyHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name, sig, key string
		code           int
		line           string
	}{
		{"good", notify.Sign(secret, time.Now(), body), "c1.1", 200, "c1 Call-In-Progress key=c1.1 signature ok"},
		{"retry", notify.Sign(secret, time.Now(), body), "c1.1", 200, "(retry #1 of this key)"},
		{"wrong secret", notify.Sign([]byte("x"), time.Now(), body), "c1.2", 401, "BAD SIGNATURE"},
		{"stale", notify.Sign(secret, time.Now().Add(-time.Hour), body), "c1.3", 401, "outside tolerance"},
	}
	for _, tc := range tests {
		if code := post(tc.sig, tc.key); code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.code)
		}
		if !strings.Contains(out.String(), tc.line) {
			t.Errorf("%s: output lacks %q:\n%s", tc.name, tc.line, out.String())
		}
	}
	if !strings.Contains(out.String(), `machineDetection {"event":"amd_machine_detected"}`) {
		t.Errorf("machineDetection not printed:\n%s", out.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sink did not stop")
	}
	http.DefaultClient.CloseIdleConnections()
}
