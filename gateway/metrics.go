package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/gateway/store"
)

// metrics are the gateway's Prometheus series. They live in the Gateway's
// own registry (not the global one) so several gateways can run in one test
// process.
type metrics struct {
	dialouts       *prometheus.CounterVec
	events         *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	attemptSeconds prometheus.Histogram
	lost           prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, g *Gateway) *metrics {
	m := &metrics{
		dialouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amdgw_dialouts_total", Help: "Dialout requests that reached the engine stage, by result.",
		}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amdgw_engine_events_total", Help: "call.status and amd.event messages applied, by status or AMD event.",
		}, []string{"type"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amdgw_notification_attempts_total", Help: "Notification POST attempts by outcome (delivered, pending = will retry, failed = final).",
		}, []string{"outcome"}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "amdgw_notification_attempt_seconds", Help: "Duration of one notification POST.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amdgw_calls_lost_total", Help: "Calls marked Failed with amd_error because their engine was lost.",
		}),
	}
	// Pre-create label values so dashboards show zeros rather than gaps.
	for _, r := range []string{"ok", "ambiguous", "no_engine", "invalid", "refused", "store_error"} {
		m.dialouts.WithLabelValues(r)
	}
	for _, s := range []call.Status{call.StatusTrying, call.StatusRinging, call.StatusAnswered, call.StatusCompleted, call.StatusFailed} {
		m.events.WithLabelValues(string(s))
	}
	for _, e := range engine.EventTypes {
		m.events.WithLabelValues(string(e))
	}
	for _, o := range []string{store.DeliveryDelivered, store.DeliveryPending, store.DeliveryFailed} {
		m.attempts.WithLabelValues(o)
	}
	enginesUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amdgw_engines_up", Help: "Engine control connections currently up.",
	}, func() float64 { return float64(g.pool.up()) })
	suspect := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amdgw_calls_suspect", Help: "Calls waiting for word from an engine after a connection loss or restart.",
	}, func() float64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		return float64(len(g.suspect))
	})
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amdgw_notifications_pending", Help: "Notifications stored and not yet delivered or given up (the outbox depth).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := g.store.PendingCount(ctx)
		if err != nil {
			return -1 // visible on a dashboard: the store does not answer
		}
		return float64(n)
	})
	reg.MustRegister(m.dialouts, m.events, m.attempts, m.attemptSeconds, m.lost, enginesUp, suspect, pending,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
