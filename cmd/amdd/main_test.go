package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestRunBadConfigExits2(t *testing.T) {
	var errOut bytes.Buffer
	code := run([]string{"--rtp-ports", "9-8"}, env(nil), &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "rtp_ports") {
		t.Fatalf("exit %d, stderr %q; want 2 naming rtp_ports", code, errOut.String())
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBinaryStopsOnSIGTERM builds amdd, starts it on free loopback ports,
// waits for /healthz, sends SIGTERM and expects a clean exit.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "amdd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctl := "127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--sip-listen", "127.0.0.1:"+strconv.Itoa(freePort(t, "udp")),
		"--control-listen", ctl, "--rtp-ports", "47000-47100", "--trunk", "lab=sip:127.0.0.1:5999")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	healthy := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + ctl + "/healthz")
		if err == nil {
			resp.Body.Close()
			healthy = resp.StatusCode == http.StatusOK
			break
		}
	}
	if !healthy {
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("amdd never became healthy:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("amdd did not stop on SIGTERM:\n%s", logs.String())
	}
	for _, want := range []string{`"amdd started"`, `"amdd stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServiceConfigMapping(t *testing.T) {
	cfg, err := LoadConfig([]string{"--sip-listen", "127.0.0.1:5070", "--rtp-ports", "40000-40998", "--max-calls", "7",
		"--media-timeout", "4s", "--ring-timeout", "30s", "--control-token", "t",
		"--trunk", "main=sip:alice:pw@10.0.0.1:5080", "--trunk", "b=sip:10.0.0.2"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sc := serviceConfig(cfg, zerolog.Nop())
	checks := []struct {
		name      string
		got, want any
	}{
		{"sip listen", sc.SIP.ListenAddr, "127.0.0.1:5070"},
		{"media ip", sc.SIP.MediaIP, "127.0.0.1"},
		{"rtp min", sc.SIP.RTPPortMin, 40000},
		{"rtp max", sc.SIP.RTPPortMax, 40998},
		{"sip media timeout", sc.SIP.MediaTimeout, 4 * time.Second},
		{"daemon media timeout", sc.Manager.MediaTimeout, 4 * time.Second},
		{"ring timeout", sc.Manager.RingTimeout, 30 * time.Second},
		{"max calls", sc.Manager.MaxCalls, 7},
		{"token", sc.ControlToken, "t"},
		{"trunk names", sc.Manager.Trunks, []string{"main", "b"}},
		{"first trunk", sc.SIP.Trunks[0], sip.Trunk{Name: "main", Host: "10.0.0.1", Port: 5080, Username: "alice", Password: "pw"}},
		{"second trunk", sc.SIP.Trunks[1], sip.Trunk{Name: "b", Host: "10.0.0.2"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// The SIP side accepts what amdd's validation accepted.
	if err := sc.SIP.WithDefaults().Validate(); err != nil {
		t.Fatalf("sip config: %v", err)
	}
}
