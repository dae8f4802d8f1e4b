package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/amd-engine/amd/gateway/notify"
)

func init() {
	register("sink", "receive and print the gateway's notifications, verifying their signature", runSink)
}

// sinkMaxBody bounds one notification; real ones are about 1 KiB.
const sinkMaxBody = 1 << 20

// notificationSink is the demo receiver: it prints each notification and
// answers 401 to one whose signature does not verify, so a wrong secret is
// visible on both sides (the gateway records the 401 as final).
type notificationSink struct {
	secret []byte
	out    io.Writer
	mu     sync.Mutex // serialises output lines
	seen   map[string]int
}

func (s *notificationSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, sinkMaxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	key := r.Header.Get(notify.IdempotencyHeader)
	verdict := "unsigned (no --signing-secret)"
	code := http.StatusOK
	if len(s.secret) > 0 {
		if err := notify.Verify(s.secret, r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance); err != nil {
			verdict, code = "BAD SIGNATURE: "+err.Error(), http.StatusUnauthorized
		} else {
			verdict = "signature ok"
		}
	}
	var n struct {
		ConversationID   string          `json:"conversationId"`
		Status           string          `json:"status"`
		Reason           string          `json:"reason"`
		MachineDetection json.RawMessage `json:"machineDetection"`
	}
	_ = json.Unmarshal(body, &n)
	s.mu.Lock()
	s.seen[key]++
	dup := ""
	if s.seen[key] > 1 {
		dup = fmt.Sprintf(" (retry #%d of this key)", s.seen[key]-1)
	}
	fmt.Fprintf(s.out, "%s %s %s key=%s %s%s\n", time.Now().Format("15:04:05.000"), n.ConversationID, n.Status, key, verdict, dup)
	if len(n.MachineDetection) > 0 {
		fmt.Fprintf(s.out, "    machineDetection %s\n", n.MachineDetection)
	}
	if n.Reason != "" {
		fmt.Fprintf(s.out, "    reason %q\n", n.Reason)
	}
	fmt.Fprintf(s.out, "    body %s\n", body)
	s.mu.Unlock()
	w.WriteHeader(code)
}

func runSink(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amdctl sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9090", "address to receive notifications on (any path)")
	secret := fs.String("signing-secret", os.Getenv("AMD_SIGNING_SECRET"), "verify SAVG-Signature with this secret (default $AMD_SIGNING_SECRET)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "amdctl sink: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveSink(ctx, ln, []byte(*secret), stdout, stderr)
}

// serveSink serves until ctx is done.
func serveSink(ctx context.Context, ln net.Listener, secret []byte, stdout, stderr io.Writer) int {
	srv := &http.Server{Handler: &notificationSink{secret: secret, out: stdout, seen: map[string]int{}}, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "amdctl sink: listening on http://%s/ (signature check %v)\n", ln.Addr(), len(secret) > 0)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		return 0
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return 0
		}
		fmt.Fprintf(stderr, "amdctl sink: %v\n", err)
		return 1
	}
}
