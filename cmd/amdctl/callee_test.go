package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	amdsip "github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

func TestCalleeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--codec", "g729"}, "--codec"},
		{[]string{"--reject", "200"}, "reject code"},
		{[]string{"--audio", "/nonexistent/dir"}, "audio"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		if code := runCallee(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: code %d, stderr %q", tc.args, code, errb.String())
		}
	}
}

func TestCalleeAnswersACall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calleeContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runCallee([]string{"--listen", "127.0.0.1:0", "--audio", "../../sip/testdata/tones_ulaw.wav", "--ring-ms", "50"}, &out, &errb)
	}()
	re := regexp.MustCompile(`sip:(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("callee did not start: %s", errb.String())
	}
	u, err := amdsip.NewUA(amdsip.Config{ListenAddr: "127.0.0.1:0", MediaIP: "127.0.0.1", RTPPortMin: 41000, RTPPortMax: 41100}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	c, err := u.Dial(context.Background(), amdsip.DialRequest{Target: fmt.Sprintf("sip:anything@%s;bye=end", addr), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []amdsip.ProgressKind
	timeout := time.After(10 * time.Second)
loop:
	for {
		select {
		case p, ok := <-c.Progress():
			if !ok {
				break loop
			}
			kinds = append(kinds, p.Kind)
		case <-timeout:
			t.Fatalf("call did not end: %v", kinds)
		}
	}
	c.Close()
	if fmt.Sprint(kinds) != "[ringing answered remote_bye]" {
		t.Errorf("progress %v", kinds)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "1 calls, 1 answered") {
			t.Errorf("exit %d, stdout %q", code, out.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("callee did not stop")
	}
}
