package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/webrtcleg"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// WebRTCConfig configures amdd's WebRTC leg: WHIP on the control listener
// and webrtc.offer on the control channel. It is off unless UDPListen is set.
type WebRTCConfig struct {
	// UDPListen is the one ICE UDP address all peer connections share
	// (--webrtc-udp, e.g. 127.0.0.1:8443). Empty disables WebRTC.
	UDPListen string
	// PublicIPs replace the host candidates' addresses (1:1 NAT).
	PublicIPs []string
	// ConnectTimeout bounds ICE + DTLS; 0 means webrtcleg.DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Enabled reports whether the WebRTC leg is configured.
func (c WebRTCConfig) Enabled() bool { return c.UDPListen != "" }

// webrtcRingSlack keeps the owner's no-answer guard behind the session's
// own timers (connect, first packet), whose reasons are more precise.
const webrtcRingSlack = 2 * time.Second

// WebRTCEngine is the Manager with a WebRTC host: it adds webrtc.offer to
// the control handler (control.WebRTCHandler) and is the WHIP handler's
// Engine. A WebRTC leg becomes a call like a dialled one — same owner
// goroutine, same statuses and events, leg "webrtc" — except that it
// starts answered-pending rather than dialling: the session reports the
// answer when the first audio packet arrives.
//
// Its metrics, registered on the service's registry at Start:
//
//	amd_webrtc_sessions                  live WebRTC peer connections
//	amd_whip_requests_total{method,code} WHIP requests by method and HTTP status
type WebRTCEngine struct {
	*Manager
	cfg  WebRTCConfig
	log  zerolog.Logger
	host *webrtcleg.Host // nil until Start
	whip *prometheus.CounterVec
}

var (
	_ control.WebRTCHandler = (*WebRTCEngine)(nil)
	_ webrtcleg.Engine      = (*WebRTCEngine)(nil)
)

// NewWebRTCEngine wraps m; nothing is bound until Start.
func NewWebRTCEngine(m *Manager, cfg WebRTCConfig) *WebRTCEngine {
	return &WebRTCEngine{
		Manager: m, cfg: cfg, log: m.cfg.Log.With().Str("component", "webrtc").Logger(),
		whip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amd_whip_requests_total", Help: "WHIP requests by method and HTTP status.",
		}, []string{"method", "code"}),
	}
}

// Start binds the ICE UDP port.
func (e *WebRTCEngine) Start() error {
	// ICE must call a vanished peer disconnected well before the owner's
	// media timeout would, or the amd_error would say "no RTP" instead of
	// naming the disconnection.
	disconnect := min(webrtcleg.DefaultDisconnectTimeout, e.Manager.cfg.MediaTimeout/2)
	h, err := webrtcleg.NewHost(webrtcleg.Config{
		UDPListen: e.cfg.UDPListen, PublicIPs: e.cfg.PublicIPs, ConnectTimeout: e.cfg.ConnectTimeout,
		MediaTimeout: e.Manager.cfg.MediaTimeout, DisconnectTimeout: disconnect, Log: e.log,
	})
	if err != nil {
		return fmt.Errorf("webrtc_udp: %w", err)
	}
	e.host = h
	return nil
}

// Host is the WebRTC host (nil before Start).
func (e *WebRTCEngine) Host() *webrtcleg.Host { return e.host }

// Close releases the ICE port and any session the calls did not close
// (none after Manager.Shutdown).
func (e *WebRTCEngine) Close() error {
	if e.host == nil {
		return nil
	}
	return e.host.Close()
}

// WebRTCOffer answers an offer and starts the call's owner goroutine. ctx
// bounds the answering only. Refusals: invalid_field "sdp" for an offer we
// cannot answer (garbage, no audio, no Opus), invalid_field "callId" for a
// live duplicate, at_capacity, unsupported before Start.
func (e *WebRTCEngine) WebRTCOffer(ctx context.Context, o control.WebRTCOffer) (control.WebRTCAnswer, error) {
	ans, err := e.offer(ctx, o)
	if err != nil {
		e.log.Info().Str("callId", o.CallID).Err(err).Msg("webrtc offer refused")
	}
	return ans, err
}

func (e *WebRTCEngine) offer(ctx context.Context, o control.WebRTCOffer) (control.WebRTCAnswer, error) {
	m := e.Manager
	if e.host == nil {
		return control.WebRTCAnswer{}, &control.CommandError{Code: control.CodeUnsupported, Message: "webrtc is not started"}
	}
	if o.CallID == "" {
		o.CallID = uuid.NewString()
	}
	d := control.Dial{
		CallID: o.CallID, Target: "webrtc", Metadata: o.Metadata, Timers: o.Timers,
		MachineDetection: o.MachineDetection, ThresholdWordCount: o.ThresholdWordCount,
	}
	amd := d.AMDConfig()
	if amd.Mode != engine.ModeDisabled && m.cfg.NewDetector == nil {
		return control.WebRTCAnswer{}, fmt.Errorf("webrtc %s: %w", d.CallID, ErrNoDetector)
	}
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return control.WebRTCAnswer{}, &control.CommandError{Code: control.CodeInternal, Message: ErrClosed.Error()}
	case m.calls[d.CallID] != nil:
		m.mu.Unlock()
		return control.WebRTCAnswer{}, &control.FieldError{Field: "callId", Message: fmt.Sprintf("%q is already a live call", d.CallID)}
	case len(m.calls) >= m.cfg.MaxCalls:
		n := len(m.calls)
		m.mu.Unlock()
		return control.WebRTCAnswer{}, &control.CommandError{Code: control.CodeAtCapacity, Message: fmt.Sprintf("%d calls running (max-calls %d)", n, m.cfg.MaxCalls)}
	}
	connect := e.cfg.ConnectTimeout
	if connect <= 0 {
		connect = webrtcleg.DefaultConnectTimeout
	}
	cctx, cancel := context.WithCancel(m.ctx)
	run := newCallRun(m, d, amd, connect+m.cfg.MediaTimeout+webrtcRingSlack, cancel)
	run.leg = call.LegWebRTC
	m.calls[d.CallID] = run
	m.mu.Unlock()

	start := m.cfg.Now()
	log := run.log
	sess, answer, err := e.host.Accept(ctx, o.SDP, webrtcleg.SessionOptions{ID: d.CallID, Log: &log})
	if err != nil {
		cancel()
		m.remove(d.CallID)
		switch {
		case errors.Is(err, webrtcleg.ErrBadOffer), errors.Is(err, webrtcleg.ErrNoAudio), errors.Is(err, webrtcleg.ErrNoOpus):
			return control.WebRTCAnswer{}, &control.FieldError{Field: "sdp", Message: err.Error()}
		case errors.Is(err, webrtcleg.ErrClosed):
			return control.WebRTCAnswer{}, &control.CommandError{Code: control.CodeInternal, Message: ErrClosed.Error()}
		}
		return control.WebRTCAnswer{}, fmt.Errorf("webrtc %s: %w", d.CallID, err)
	}
	run.call = webrtcCall{sess}
	run.start = start
	m.cfg.Metrics.activeCalls.Inc()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.cfg.Metrics.activeCalls.Dec()
		defer m.retire(run)
		run.run(cctx)
	}()
	return control.WebRTCAnswer{CallID: d.CallID, SDP: answer}, nil
}

// EndSession hangs up a WebRTC call for WHIP's DELETE. Other calls are
// unknown to WHIP: a session URL must not reach a SIP call that happens to
// share an ID namespace.
func (e *WebRTCEngine) EndSession(callID string) error {
	m := e.Manager
	m.mu.Lock()
	run := m.calls[callID]
	m.mu.Unlock()
	if run == nil || run.leg != call.LegWebRTC || run.deleted.Swap(true) {
		return fmt.Errorf("webrtc session %q: %w", callID, control.ErrUnknownCall)
	}
	return run.send(cmdHangup)
}

// WHIPHandler is the WHIP endpoint for this engine, mounted by the service
// at webrtcleg.WHIPPath; it counts its responses in amd_whip_requests_total.
func (e *WebRTCEngine) WHIPHandler(token string) http.Handler {
	h := webrtcleg.NewWHIPHandler(e, webrtcleg.WithWHIPToken(token), webrtcleg.WithWHIPLogger(e.log))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		e.whip.WithLabelValues(r.Method, strconv.Itoa(sw.code)).Inc()
	})
}

// register adds the engine's collectors to reg.
func (e *WebRTCEngine) register(reg prometheus.Registerer) error {
	sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "amd_webrtc_sessions", Help: "Live WebRTC peer connections.",
	}, func() float64 {
		if e.host == nil {
			return 0
		}
		return float64(e.host.Sessions())
	})
	for _, c := range []prometheus.Collector{e.whip, sessions} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("webrtc metrics: %w", err)
		}
	}
	return nil
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// webrtcCall adapts a webrtcleg.Session to the owner's Call and Media.
type webrtcCall struct{ s *webrtcleg.Session }

func (c webrtcCall) Progress() <-chan Progress        { return c.s.Progress() }
func (c webrtcCall) Media() Media                     { return webrtcMedia(c) }
func (c webrtcCall) Hangup(ctx context.Context) error { return c.s.Hangup(ctx) }
func (c webrtcCall) Close() error                     { return c.s.Close() }

// webrtcMedia is one pointer wide, so handing it out as Media on every
// frame does not allocate.
type webrtcMedia struct{ s *webrtcleg.Session }

func (c webrtcMedia) ReadFrame(pcm []int16, deadline time.Time) error {
	return c.s.ReadFrame(pcm, deadline)
}

func (c webrtcMedia) Stats() MediaStats {
	st := c.s.Stats()
	return MediaStats{Packets: st.Packets, Lost: st.Lost, Late: st.Late, DecodeErrors: st.DecodeErrors}
}

// The service's WebRTC wiring, kept here so service.go only calls it.

// controlHandler is what the control server runs commands on: the WebRTC
// engine when configured (it adds webrtc.offer), the manager otherwise.
func (s *Service) controlHandler() control.Handler {
	if s.rtc != nil {
		return s.rtc
	}
	return s.mgr
}

// mountWebRTC adds WHIP to the control listener's mux.
func (s *Service) mountWebRTC(mux *http.ServeMux) {
	if s.rtc == nil {
		return
	}
	h := s.rtc.WHIPHandler(s.cfg.ControlToken)
	mux.Handle(webrtcleg.WHIPPath, h)
	mux.Handle(webrtcleg.WHIPPath+"/", h)
}

// WebRTC returns the WebRTC engine, nil when WebRTC is not configured.
func (s *Service) WebRTC() *WebRTCEngine { return s.rtc }

func (s *Service) startWebRTC() error {
	if s.rtc == nil {
		return nil
	}
	if err := s.rtc.Start(); err != nil {
		return err
	}
	if err := s.rtc.register(s.metrics.Registry); err != nil {
		_ = s.rtc.Close()
		return err
	}
	return nil
}

func (s *Service) closeWebRTC() error {
	if s.rtc == nil {
		return nil
	}
	return s.rtc.Close()
}
