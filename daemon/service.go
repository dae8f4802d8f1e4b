package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// ControlPath is where the control channel is served.
const ControlPath = "/v1/control"

// ServiceConfig is everything amdd runs with, already validated by its
// caller (cmd/amdd) — the service re-checks only what it must to start.
type ServiceConfig struct {
	// SIP configures the user agent (listen address, media IP, RTP ports, trunks).
	SIP sip.Config
	// ControlListen is the address of /v1/control, /metrics and /healthz.
	ControlListen string
	// ControlToken, when set, is required as a bearer token.
	ControlToken string
	// PprofListen, when set, serves net/http/pprof there.
	PprofListen string
	// ControlQueue is each control connection's outbound queue length; 0
	// means control.DefaultQueueSize.
	ControlQueue int
	// Manager configures calls (max calls, timeouts). Trunks and Metrics are
	// filled in by the service.
	Manager Config
	// Log is the root logger.
	Log zerolog.Logger
	// Dialer replaces the SIP user agent (tests); nil means sip.NewUA(SIP).
	Dialer DialerService
	// WebRTC enables WHIP and webrtc.offer when WebRTC.UDPListen is set (webrtc.go).
	WebRTC WebRTCConfig
}

// DialerService is a Dialer with a lifetime: the SIP user agent.
type DialerService interface {
	Dialer
	Start(ctx context.Context) error
	Close() error
	Addr() netip.AddrPort
}

// Service is a running amdd: SIP user agent, call manager, control server
// and the HTTP listener(s).
type Service struct {
	cfg     ServiceConfig
	log     zerolog.Logger
	dialer  DialerService
	mgr     *Manager
	ctl     *control.Server
	metrics *Metrics
	rtc     *WebRTCEngine // nil unless WebRTC is configured

	httpSrv  *http.Server
	ln       net.Listener
	pprofSrv *http.Server
	pprofLn  net.Listener
	wg       sync.WaitGroup
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// NewService builds the service without binding anything.
func NewService(cfg ServiceConfig) (*Service, error) {
	s := &Service{cfg: cfg, log: cfg.Log, metrics: NewMetrics()}
	s.dialer = cfg.Dialer
	if s.dialer == nil {
		d, err := newSIPDialer(cfg.SIP, cfg.Log)
		if err != nil {
			return nil, fmt.Errorf("sip: %w", err)
		}
		s.dialer = d
	}
	mcfg := cfg.Manager
	mcfg.Log = cfg.Log
	mcfg.Metrics = s.metrics
	if len(mcfg.Trunks) == 0 {
		for _, t := range cfg.SIP.Trunks {
			mcfg.Trunks = append(mcfg.Trunks, t.Name)
		}
	}
	if mcfg.NewDetector == nil {
		mcfg.NewDetector = EngineDetector
	}
	// The manager publishes through the control server, which needs the
	// manager as its handler: a forwarding publisher breaks the cycle.
	fwd := &forwardPublisher{}
	mgr, err := New(mcfg, s.dialer, fwd)
	if err != nil {
		return nil, err
	}
	s.mgr = mgr
	if cfg.WebRTC.Enabled() {
		s.rtc = NewWebRTCEngine(mgr, cfg.WebRTC)
	}
	s.ctl = control.NewServer(s.controlHandler(), control.WithToken(cfg.ControlToken), control.WithQueryToken(s.rtc != nil), control.WithQueueSize(cfg.ControlQueue), control.WithLogger(cfg.Log.With().Str("component", "control").Logger()))
	fwd.pub = s.ctl
	s.metrics.RegisterControl(s.ctl)
	s.metrics.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s, nil
}

// forwardPublisher lets the manager be built before the control server.
type forwardPublisher struct{ pub Publisher }

func (f *forwardPublisher) Publish(id string, msg any) { f.pub.Publish(id, msg) }
func (f *forwardPublisher) Forget(id string)           { f.pub.Forget(id) }

// Manager returns the call manager.
func (s *Service) Manager() *Manager { return s.mgr }

// Control returns the control server.
func (s *Service) Control() *control.Server { return s.ctl }

// Registry returns the Prometheus registry served on /metrics.
func (s *Service) Registry() *prometheus.Registry { return s.metrics.Registry }

// ControlAddr is the bound control listener address (after Start).
func (s *Service) ControlAddr() net.Addr { return s.ln.Addr() }

// ControlURL is the ws:// URL of the control channel (after Start).
func (s *Service) ControlURL() string { return "ws://" + s.ln.Addr().String() + ControlPath }

// SIPAddr is the bound SIP address (after Start).
func (s *Service) SIPAddr() netip.AddrPort { return s.dialer.Addr() }

// Handler is the HTTP handler of the control listener: the WebSocket,
// Prometheus metrics and a health check.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ControlPath, s.ctl)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{Registry: s.metrics.Registry}))
	mux.HandleFunc("/healthz", s.healthz)
	s.mountWebRTC(mux)
	return mux
}

func (s *Service) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	status, code := "ok", http.StatusOK
	if s.stopping.Load() {
		status, code = "stopping", http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":      status,
		"activeCalls": len(s.mgr.ActiveCalls()),
		"sip":         s.dialer.Addr().String(),
		"connections": s.ctl.Stats().Connections,
	})
}

// Start binds the SIP socket and the HTTP listeners and serves them in the
// background; it returns once everything is bound. ctx bounds only the
// start-up: the service runs until Shutdown.
func (s *Service) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The user agent lives until Shutdown, not until the caller's ctx.
	if err := s.dialer.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("sip: start: %w", err)
	}
	if err := s.startWebRTC(); err != nil {
		_ = s.dialer.Close()
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.ControlListen)
	if err != nil {
		_ = s.closeWebRTC()
		_ = s.dialer.Close()
		return fmt.Errorf("control_listen %s: %w", s.cfg.ControlListen, err)
	}
	s.ln = ln
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.serve(s.httpSrv, ln)
	if s.cfg.PprofListen != "" {
		pln, err := net.Listen("tcp", s.cfg.PprofListen)
		if err != nil {
			_ = s.Shutdown(context.Background())
			return fmt.Errorf("pprof_listen %s: %w", s.cfg.PprofListen, err)
		}
		s.pprofLn = pln
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		s.pprofSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		s.serve(s.pprofSrv, pln)
	}
	s.log.Info().Str("sip", s.dialer.Addr().String()).Str("control", s.ControlURL()).Str("pprof", s.cfg.PprofListen).Msg("amdd started")
	return nil
}

func (s *Service) serve(srv *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Str("addr", ln.Addr().String()).Msg("http serve")
		}
	}()
}

// Shutdown stops gracefully: hang up every call (their final statuses
// still reach the clients), close the control connections, stop the HTTP
// servers and the SIP user agent, and wait for every goroutine.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		s.log.Info().Int("calls", len(s.mgr.ActiveCalls())).Msg("amdd stopping")
		var errs []error
		if err := s.mgr.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		_ = s.ctl.Close()
		for _, srv := range []*http.Server{s.httpSrv, s.pprofSrv} {
			if srv != nil {
				if err := srv.Shutdown(ctx); err != nil {
					errs = append(errs, fmt.Errorf("http shutdown: %w", err))
				}
			}
		}
		if err := s.dialer.Close(); err != nil && !errors.Is(err, sip.ErrClosed) {
			errs = append(errs, fmt.Errorf("sip close: %w", err))
		}
		if err := s.closeWebRTC(); err != nil {
			errs = append(errs, fmt.Errorf("webrtc close: %w", err))
		}
		s.wg.Wait()
		s.stopErr = errors.Join(errs...)
		s.log.Info().Err(s.stopErr).Msg("amdd stopped")
	})
	return s.stopErr
}
