package daemon

import (
	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are amdd's Prometheus collectors, on a registry of their own so
// that tests and embedders never collide with the global one. Label values
// come from the closed sets in call and engine, pre-created so dashboards
// show zeros rather than gaps. Served on /metrics:
//
//	amd_call_status_total{status}        status changes (trying, ringing, answered, completed, failed)
//	amd_calls_ended_total{end_reason}    calls ended, by call.EndReason
//	amd_dial_refused_total{code}         dials refused (invalid_field, at_capacity, internal)
//	amd_events_total{event}              AMD events, by engine.EventType
//	amd_decision_audio_ms                histogram: audio ms from answer to the decision
//	amd_active_calls                     calls in progress
//	amd_call_histories_retained          ended calls whose history still answers subscribe
//	amd_rtp_packets_total, amd_rtp_lost_total, amd_rtp_late_total, amd_decode_errors_total
//	                                     media counters (added every 5 s of audio and at call end)
//	amd_control_connections              open control connections
//	amd_control_slow_consumers_total     connections dropped for reading too slowly
//	amd_control_unauthorized_total       upgrades refused for the token
//	amd_control_bad_messages_total       messages refused as malformed or invalid
//
// plus the Go runtime and process collectors.
type Metrics struct {
	Registry *prometheus.Registry

	callStates      *prometheus.CounterVec
	callEnds        *prometheus.CounterVec
	dialRefused     *prometheus.CounterVec
	amdEvents       *prometheus.CounterVec
	decisionLatency prometheus.Histogram
	activeCalls     prometheus.Gauge
	rtpPackets      prometheus.Counter
	rtpLost         prometheus.Counter
	rtpLate         prometheus.Counter
	decodeErrors    prometheus.Counter
}

// NewMetrics builds and registers the daemon's collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		callStates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amd_call_status_total", Help: "Call status changes published, by status.",
		}, []string{"status"}),
		callEnds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amd_calls_ended_total", Help: "Calls ended, by end reason.",
		}, []string{"end_reason"}),
		dialRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amd_dial_refused_total", Help: "Dial commands refused, by error code.",
		}, []string{"code"}),
		amdEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amd_events_total", Help: "AMD events emitted, by event.",
		}, []string{"event"}),
		decisionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "amd_decision_audio_ms",
			Help: "Audio milliseconds from the answer to the AMD decision (human, machine, no speech, timeout).",
			// Decisions cluster between 1 and 6 s of audio; the tail reaches the 15 s decision timeout.
			Buckets: []float64{250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 15000, 20000, 30000},
		}),
		activeCalls: prometheus.NewGauge(prometheus.GaugeOpts{Name: "amd_active_calls", Help: "Calls in progress."}),
		rtpPackets:  prometheus.NewCounter(prometheus.CounterOpts{Name: "amd_rtp_packets_total", Help: "RTP packets received (counted at call end)."}),
		rtpLost:     prometheus.NewCounter(prometheus.CounterOpts{Name: "amd_rtp_lost_total", Help: "RTP packets lost (sequence gaps never filled)."}),
		rtpLate:     prometheus.NewCounter(prometheus.CounterOpts{Name: "amd_rtp_late_total", Help: "RTP packets that arrived too late to be played."}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "amd_decode_errors_total", Help: "Audio payloads that failed to decode.",
		}),
	}
	m.Registry.MustRegister(m.callStates, m.callEnds, m.dialRefused, m.amdEvents, m.decisionLatency,
		m.activeCalls, m.rtpPackets, m.rtpLost, m.rtpLate, m.decodeErrors)
	for _, s := range []call.Status{call.StatusTrying, call.StatusRinging, call.StatusAnswered, call.StatusCompleted, call.StatusFailed} {
		m.callStates.WithLabelValues(string(s))
	}
	for _, r := range call.EndReasons {
		m.callEnds.WithLabelValues(string(r))
	}
	for _, e := range engine.EventTypes {
		m.amdEvents.WithLabelValues(string(e))
	}
	for _, c := range []string{control.CodeInvalidField, control.CodeAtCapacity, control.CodeInternal} {
		m.dialRefused.WithLabelValues(c)
	}
	return m
}

// RegisterControl exports a control server's connection counters.
func (m *Metrics) RegisterControl(srv *control.Server) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "amd_control_connections", Help: "Open control-channel connections."},
			func() float64 { return float64(srv.Stats().Connections) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "amd_control_slow_consumers_total", Help: "Control connections dropped because they read too slowly."},
			func() float64 { return float64(srv.Stats().SlowConsumers) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "amd_control_unauthorized_total", Help: "Control upgrades refused for a bad token."},
			func() float64 { return float64(srv.Stats().Unauthorized) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "amd_control_bad_messages_total", Help: "Control messages refused as malformed or invalid."},
			func() float64 { return float64(srv.Stats().BadMessages) }),
	)
}

func (m *Metrics) addMedia(s MediaStats) {
	m.rtpPackets.Add(float64(s.Packets))
	m.rtpLost.Add(float64(s.Lost))
	m.rtpLate.Add(float64(s.Late))
	m.decodeErrors.Add(float64(s.DecodeErrors))
}

// registerHistory exports how many ended calls' histories m retains. A
// second manager on the same Metrics keeps the first one's gauge.
func (mt *Metrics) registerHistory(m *Manager) {
	_ = mt.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amd_call_histories_retained", Help: "Ended calls whose history still answers subscribe with replay.",
	}, func() float64 { return float64(m.RetainedCalls()) }))
}
