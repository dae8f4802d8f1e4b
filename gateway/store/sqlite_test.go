package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newCall(id, bot string, created time.Time) *Call {
	return &Call{CallID: id, SID: "s-" + id, BotID: bot, Target: "sip:a@b", Caller: "100", Status: StatusQueued,
		CreatedAt: created, Metadata: json.RawMessage(`{"k":"v"}`), Request: json.RawMessage(`{"target":"sip:a@b"}`)}
}

func TestCreateGetUpdate(t *testing.T) {
	s, path := openTest(t)
	ctx := ctxT(t)
	c := newCall("c1", "bot", time.Now().UTC())
	if err := s.CreateCall(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCall(ctx, c); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v, want ErrExists", err)
	}
	if _, err := s.GetCall(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	err := s.UpdateCall(ctx, "c1", func(c *Call) ([]Notification, error) {
		c.Status = StatusAnswered
		return []Notification{
			{Status: "Answered", URL: "http://x/", Body: json.RawMessage(`{"a":1}`), Headers: map[string]string{"X": "1"}},
			{Status: "Call-In-Progress", URL: "http://x/", Body: json.RawMessage(`{"a":2}`)},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	abort := errors.New("abort")
	if err := s.UpdateCall(ctx, "c1", func(c *Call) ([]Notification, error) {
		c.Status = StatusFailed
		return []Notification{{Status: "x", URL: "u", Body: json.RawMessage(`{}`)}}, abort
	}); !errors.Is(err, abort) {
		t.Fatalf("aborted update: %v", err)
	}
	// Reopen: everything must come back from the file.
	s.Close()
	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.GetCall(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusAnswered || got.NotifySeq != 2 || string(got.Metadata) != `{"k":"v"}` || string(got.Request) != `{"target":"sip:a@b"}` {
		t.Fatalf("record after reopen: %+v", got)
	}
	notes, err := s2.Notifications(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].Key != "c1.1" || notes[1].Key != "c1.2" || notes[0].Headers["X"] != "1" || string(notes[1].Body) != `{"a":2}` {
		t.Fatalf("notes: %+v", notes)
	}
}

func TestDueHeadsKeepOrder(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if err := s.CreateCall(ctx, newCall(id, "bot", now)); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateCall(ctx, id, func(c *Call) ([]Notification, error) {
			return []Notification{{Status: "1", URL: "u", Body: json.RawMessage(`1`)}, {Status: "2", URL: "u", Body: json.RawMessage(`2`)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.DueNotifications(ctx, now.Add(time.Second), nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].Seq != 1 || due[1].Seq != 1 {
		t.Fatalf("due heads: %+v", due)
	}
	// busy calls are skipped.
	due, _ = s.DueNotifications(ctx, now.Add(time.Second), map[string]bool{"a": true}, 10)
	if len(due) != 1 || due[0].CallID != "b" {
		t.Fatalf("busy skip: %+v", due)
	}
	// a's head in backoff: a's second notification must not overtake it.
	aHead := int64(0)
	for _, n := range mustNotes(t, s, "a") {
		if n.Seq == 1 {
			aHead = n.ID
		}
	}
	later := now.Add(time.Hour)
	if err := s.RecordAttempt(ctx, aHead, Outcome{State: DeliveryPending, Next: later, Err: "503"}); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueNotifications(ctx, now.Add(time.Second), nil, 10)
	if len(due) != 1 || due[0].CallID != "b" {
		t.Fatalf("a in backoff: %+v", due)
	}
	next, ok, err := s.NextDue(ctx, nil)
	if err != nil || !ok || next.After(now.Add(time.Second)) {
		t.Fatalf("next due %v %v %v: want b's head (now)", next, ok, err)
	}
	if err := s.RecordAttempt(ctx, aHead, Outcome{State: DeliveryDelivered, At: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, aHead, Outcome{State: DeliveryDelivered, At: now}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second final outcome: %v, want ErrNotFound", err)
	}
	due, _ = s.DueNotifications(ctx, now.Add(time.Second), nil, 10)
	if len(due) != 2 || due[0].CallID != "a" && due[1].CallID != "a" {
		t.Fatalf("after delivery: %+v", due)
	}
	for _, n := range due {
		if n.CallID == "a" && n.Seq != 2 {
			t.Fatalf("a's next: %+v", n)
		}
	}
}

func mustNotes(t *testing.T, s *SQLite, id string) []Notification {
	t.Helper()
	n, err := s.Notifications(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestListCallsPaginationAndFilters(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		c := newCall(fmt.Sprintf("c%02d", i), "bot", base.Add(time.Duration(i)*time.Second))
		if i%5 == 0 {
			c.Status = StatusFailed
		}
		if i == 24 {
			c.BotID = "other"
		}
		if err := s.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all of bot", Filter{BotID: "bot"}, 24},
		{"failed", Filter{BotID: "bot", Status: []string{StatusFailed}}, 5},
		{"time window", Filter{BotID: "bot", From: base.Add(10 * time.Second), To: base.Add(20 * time.Second)}, 10},
		{"other bot", Filter{BotID: "other"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			f := tc.f
			f.Limit = 7
			var prev time.Time
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				got, next, err := s.ListCalls(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range got {
					if seen[c.CallID] {
						t.Fatalf("%s twice", c.CallID)
					}
					if !prev.IsZero() && c.CreatedAt.After(prev) {
						t.Fatalf("not newest first at %s", c.CallID)
					}
					prev = c.CreatedAt
					seen[c.CallID] = true
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if len(seen) != tc.want {
				t.Fatalf("got %d calls, want %d", len(seen), tc.want)
			}
		})
	}
	if _, _, err := s.ListCalls(ctx, Filter{Cursor: "!!"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// TestConcurrentUpdatesKeepSeq: concurrent writers (event handler, resolver)
// never assign the same seq twice; BEGIN IMMEDIATE serialises them.
func TestConcurrentUpdatesKeepSeq(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	if err := s.CreateCall(ctx, newCall("c", "bot", time.Now())); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Go(func() {
			errs <- s.UpdateCall(ctx, "c", func(c *Call) ([]Notification, error) {
				return []Notification{{Status: "x", URL: "u", Body: json.RawMessage(`{}`)}}, nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	notes := mustNotes(t, s, "c")
	if len(notes) != 40 {
		t.Fatalf("%d notes, want 40", len(notes))
	}
	for i, n := range notes {
		if n.Seq != i+1 {
			t.Fatalf("note %d has seq %d", i, n.Seq)
		}
	}
}

func TestOpenCalls(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	for i, st := range []string{StatusQueued, StatusAnswered, StatusCompleted, StatusFailed, StatusMachineDetected, StatusRinging} {
		c := newCall(fmt.Sprint(i), "b", time.Now())
		c.Status = st
		if err := s.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 3 {
		t.Fatalf("open calls: %d, want 3", len(open))
	}
	for _, c := range open {
		if FinalStatus(c.Status) {
			t.Fatalf("final call listed as open: %+v", c)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(123, "abc"))
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		ts, id, err := decodeCursor(s)
		if err == nil {
			// Round trip: what decodes must re-encode to something that decodes the same.
			ts2, id2, err2 := decodeCursor(encodeCursor(ts, id))
			if err2 != nil || ts2 != ts || id2 != id {
				t.Fatalf("round trip %q: %d %q %v", s, ts2, id2, err2)
			}
		}
	})
}

func TestPruneKeepsWhatIsOwed(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	old := time.Now().Add(-48 * time.Hour)
	cases := []struct {
		id, status string
		created    time.Time
		pending    bool
		kept       bool
	}{
		{"old-done", StatusCompleted, old, false, false},
		{"old-failed", StatusFailed, old, false, false},
		{"old-owed", StatusCompleted, old, true, true},
		{"old-open", StatusAnswered, old, false, true},
		{"new-done", StatusCompleted, time.Now(), false, true},
	}
	for _, c := range cases {
		call := newCall(c.id, "b", c.created)
		call.Status = c.status
		if err := s.CreateCall(ctx, call); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateCall(ctx, c.id, func(*Call) ([]Notification, error) {
			return []Notification{{Status: "x", URL: "u", Body: json.RawMessage(`{}`)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if !c.pending {
			n := mustNotes(t, s, c.id)[0]
			if err := s.RecordAttempt(ctx, n.ID, Outcome{State: DeliveryDelivered, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := s.Prune(ctx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	for _, c := range cases {
		_, err := s.GetCall(ctx, c.id)
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s kept=%v, want %v", c.id, kept, c.kept)
		}
		if notes := mustNotes(t, s, c.id); (len(notes) == 1) != c.kept {
			t.Errorf("%s: %d notifications left", c.id, len(notes))
		}
	}
}

func TestUpdateCallsBatch(t *testing.T) {
	s, _ := openTest(t)
	ctx := ctxT(t)
	for _, id := range []string{"a", "b"} {
		if err := s.CreateCall(ctx, newCall(id, "bot", time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	skip := errors.New("skip me")
	note := func(st string) func(c *Call) ([]Notification, error) {
		return func(c *Call) ([]Notification, error) {
			c.Status = st
			return []Notification{{Status: st, URL: "u", Body: json.RawMessage(`{}`)}}, nil
		}
	}
	errs, err := s.UpdateCalls(ctx, []CallUpdate{
		{CallID: "a", Fn: note(StatusAnswered)},
		{CallID: "missing", Fn: note(StatusAnswered)},
		{CallID: "b", Fn: func(c *Call) ([]Notification, error) { c.Status = StatusFailed; return nil, skip }},
		{CallID: "a", Fn: note(StatusCompleted)},
		{CallID: "b", Fn: note(StatusRinging)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], ErrNotFound) || !errors.Is(errs[2], skip) || errs[3] != nil || errs[4] != nil {
		t.Fatalf("per-update errors %v", errs)
	}
	a, _ := s.GetCall(ctx, "a")
	b, _ := s.GetCall(ctx, "b")
	if a.Status != StatusCompleted || a.NotifySeq != 2 || b.Status != StatusRinging || b.NotifySeq != 1 {
		t.Fatalf("a %+v b %+v", a, b)
	}
	if notes := mustNotes(t, s, "a"); len(notes) != 2 || notes[0].Status != StatusAnswered || notes[1].Key != "a.2" {
		t.Fatalf("a's notes %+v", notes)
	}
}
