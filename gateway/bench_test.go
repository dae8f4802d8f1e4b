package gateway

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/gateway/store"
)

// BenchmarkApplyEvent measures what one engine event costs the link's
// goroutine: read the record, map the event, write the record and the
// queued notification in one SQLite transaction (synchronous=FULL). It
// bounds the events/s one engine link can absorb.
func BenchmarkApplyEvent(b *testing.B) {
	st, err := store.OpenSQLite(filepath.Join(b.TempDir(), "gw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g, err := New(testConfig("ws://127.0.0.1:1/v1/control"), st)
	if err != nil {
		b.Fatal(err)
	}
	l := g.pool.links[0]
	ctx := context.Background()
	const calls = 100
	ids := make([]string, calls)
	for i := range ids {
		ids[i] = "c" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		if err := st.CreateCall(ctx, &store.Call{CallID: ids[i], BotID: "b", NotifyURL: "http://127.0.0.1:1/", Status: store.StatusAnswered, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		// answered: a record change plus one queued notification, and a
		// record that does not grow from one iteration to the next.
		s := &control.CallStatus{CallID: ids[n%calls], Leg: call.LegSIP, Status: call.StatusAnswered, TimeUnixMs: time.Now().UnixMilli()}
		g.onEvents(l, []control.Incoming{{Type: control.TypeCallStatus, CallID: s.CallID, Status: s}})
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkApplyEventBatch is the same under load: the link drains what
// queued up (here 64 events) into one transaction.
func BenchmarkApplyEventBatch(b *testing.B) {
	st, err := store.OpenSQLite(filepath.Join(b.TempDir(), "gw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g, err := New(testConfig("ws://127.0.0.1:1/v1/control"), st)
	if err != nil {
		b.Fatal(err)
	}
	l := g.pool.links[0]
	ctx := context.Background()
	const calls, batch = 100, 64
	ids := make([]string, calls)
	for i := range ids {
		ids[i] = "c" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		if err := st.CreateCall(ctx, &store.Call{CallID: ids[i], BotID: "b", NotifyURL: "http://127.0.0.1:1/", Status: store.StatusAnswered, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	evs := make([]control.CallStatus, batch)
	in := make([]control.Incoming, batch)
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		for k := range evs {
			evs[k] = control.CallStatus{CallID: ids[n%calls], Leg: call.LegSIP, Status: call.StatusAnswered, TimeUnixMs: time.Now().UnixMilli()}
			in[k] = control.Incoming{Type: control.TypeCallStatus, CallID: evs[k].CallID, Status: &evs[k]}
			n++
		}
		g.onEvents(l, in)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}
