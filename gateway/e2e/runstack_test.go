package e2e

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func freeTCP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDPAddr(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// lockedLines collects a process's output lines.
type lockedLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLines) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *lockedLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestRunStack runs scripts/run-stack.sh (what `make run` executes) on free
// ports, pastes the curl it prints, and expects the call's notifications,
// signature-checked by `amdctl sink`, on the script's output; then Ctrl-C
// (SIGINT) must stop everything.
func TestRunStack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole stack")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin+"/", "./cmd/amdd", "./cmd/amdgw", "./cmd/amdctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	cmd := exec.Command("bash", filepath.Join(root, "scripts", "run-stack.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BIN="+bin, "RUN_DIR="+t.TempDir(),
		"SINK="+freeTCP(t), "GW="+freeTCP(t), "AMDD_CTL="+freeTCP(t), "CALLEE="+freeUDPAddr(t), "AMDD_SIP="+freeUDPAddr(t))
	// Its own process group, so a failed test can stop every child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &lockedLines{}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out.add(sc.Text())
		}
		close(done)
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("run-stack output:\n%s", out.text())
		}
	})

	waitUntil(t, "the stack to come up", 60*time.Second, func() bool { return strings.Contains(out.text(), "--- notifications") })
	// Paste the printed curl, as a user would.
	text := out.text()
	start := strings.Index(text, "curl -sS -X POST")
	end := strings.Index(text[start:], "}'")
	if start < 0 || end < 0 {
		t.Fatalf("no curl in the output")
	}
	curl := text[start : start+end+2]
	res, err := exec.CommandContext(ctx, "bash", "-c", curl).CombinedOutput()
	if err != nil || !strings.Contains(string(res), `"callId"`) {
		t.Fatalf("the printed curl failed: %v\n%s", err, res)
	}
	waitUntil(t, "the completed notification", 60*time.Second, func() bool {
		o := out.text()
		return strings.Contains(o, " completed key=") || strings.Contains(o, " Failed key=")
	})
	o := out.text()
	for _, want := range []string{" Answered key=", " Call-In-Progress key=", " completed key=", "signature ok"} {
		if !strings.Contains(o, want) {
			t.Fatalf("sink output lacks %q", want)
		}
	}
	if strings.Contains(o, "BAD SIGNATURE") {
		t.Fatal("a notification failed its signature check")
	}

	// Ctrl-C stops everything.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run-stack did not stop on SIGINT")
	}
	_ = cmd.Wait()
	stopped = true
	// No child is left in the group.
	if err := syscall.Kill(-cmd.Process.Pid, 0); err == nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("processes of the stack survived Ctrl-C")
	}
}
