package loadgen

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/amd-engine/amd/engine"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	v := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want int64
	}{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {0, 1}, {91, 10}, {90, 9}}
	for _, tt := range tests {
		if got := percentile(v, tt.p); got != tt.want {
			t.Errorf("p%v = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != -1 {
		t.Errorf("empty: %d, want -1", got)
	}
}

// TestEventLag: the deciding frame of an event at atMs is frame atMs/20-1,
// and lag is arrival minus that frame's send time.
func TestEventLag(t *testing.T) {
	t.Parallel()
	cs := &callState{sent: make([]atomic.Int64, 100)}
	t0 := time.Unix(1700000000, 0)
	for k := range 50 { // 50 frames sent, 20 ms apart
		cs.sent[k].Store(t0.Add(time.Duration(k) * 20 * time.Millisecond).UnixNano())
	}
	tests := []struct {
		name    string
		atMs    int64
		arrived time.Time
		want    time.Duration
		ok      bool
	}{
		{"first frame", 20, t0.Add(3 * time.Millisecond), 3 * time.Millisecond, true},
		{"frame 40", 820, t0.Add(800*time.Millisecond + 12*time.Millisecond), 12 * time.Millisecond, true},
		{"not sent yet", 1500, t0.Add(2 * time.Second), 0, false},
		{"past the record", 5000, t0, 0, false},
		{"before audio", 0, t0, 0, false},
	}
	for _, tt := range tests {
		got, ok := eventLag(cs, engine.Event{AtMs: tt.atMs}, tt.arrived)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: lag %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
