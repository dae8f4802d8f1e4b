package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/gateway/store"
)

// BenchmarkOutboxDelivery measures the whole durable path of one
// notification: queued in SQLite (synchronous=FULL), picked as its call's
// queue head, signed, POSTed to a loopback receiver, outcome recorded. 64
// calls of 4 notifications each per iteration; reports notifications/s.
func BenchmarkOutboxDelivery(b *testing.B) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	st, err := store.OpenSQLite(filepath.Join(b.TempDir(), "gw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	d := NewDispatcher(st, []byte("s"), WithWorkers(DefaultWorkers))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const calls, per = 64, 4
	body, _ := json.Marshal(map[string]string{"status": "Answered", "conversationId": "x"})
	start := time.Now()
	total := int64(0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for c := range calls {
			id := fmt.Sprintf("b%d-%d", i, c)
			if err := st.CreateCall(ctx, &store.Call{CallID: id, BotID: "b", Status: store.StatusQueued, CreatedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
			if err := st.UpdateCall(ctx, id, func(*store.Call) ([]store.Notification, error) {
				out := make([]store.Notification, per)
				for k := range out {
					out[k] = store.Notification{Status: "s", URL: srv.URL, Body: body}
				}
				return out, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		d.Wake()
		total += calls * per
		deadline := time.Now().Add(time.Minute)
		for got.Load() < total {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d delivered", got.Load(), total)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "notifications/s")
}
