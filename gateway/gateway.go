package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/notify"
	"github.com/amd-engine/amd/gateway/store"
)

// Gateway is amdgw. New builds it, Handler serves the HTTP API, Run keeps
// the engine links, the notifier and the lost-call resolver going.
type Gateway struct {
	cfg      Config
	log      zerolog.Logger
	store    store.Store
	verifier *auth.Verifier
	disp     *notify.Dispatcher
	pool     *enginePool
	metrics  *metrics
	registry *prometheus.Registry
	now      func() time.Time

	// suspect holds calls whose state the gateway can no longer vouch for
	// (engine connection lost, gateway restarted) and since when; an event
	// for the call clears it, the resolver fails it after EngineLossTimeout.
	mu      sync.Mutex
	suspect map[string]time.Time
}

// Option configures a Gateway.
type Option func(*Gateway)

// WithLogger sets the logger.
func WithLogger(l zerolog.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithConnector replaces how engine connections are opened (tests).
func WithConnector(f ConnectFunc) Option { return func(g *Gateway) { g.pool.connect = f } }

// New builds a Gateway over st (which it does not close).
func New(cfg Config, st store.Store, opts ...Option) (*Gateway, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier([]byte(cfg.JWTSecret))
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:      cfg,
		log:      zerolog.Nop(),
		store:    st,
		verifier: v,
		pool:     newEnginePool(cfg.Engines),
		registry: prometheus.NewRegistry(),
		now:      time.Now,
		suspect:  map[string]time.Time{},
	}
	g.pool.connect = ControlConnect
	for _, o := range opts {
		o(g)
	}
	g.metrics = newMetrics(g.registry, g)
	g.pool.token, g.pool.minWait, g.pool.maxWait, g.pool.log = cfg.EngineToken, cfg.ReconnectMin, cfg.ReconnectMax, g.log
	g.pool.onEvents = g.onEvents
	g.pool.onUp = g.onEngineUp
	g.pool.onDown = g.onEngineDown
	g.disp = notify.NewDispatcher(st, []byte(cfg.SigningSecret),
		notify.WithPolicy(cfg.Notify.policy()), notify.WithWorkers(cfg.Notify.Workers),
		notify.WithAttemptHook(g.onAttempt))
	return g, nil
}

// Config returns the effective configuration.
func (g *Gateway) Config() Config { return g.cfg }

// Run runs the engine links, the notifier and the resolver until ctx is
// done, then waits for all of them.
func (g *Gateway) Run(ctx context.Context) error {
	// Calls open at start-up were left by a previous process: until their
	// engine says something about them, they are suspect.
	open, err := g.store.OpenCalls(ctx)
	if err != nil {
		return fmt.Errorf("load open calls: %w", err)
	}
	now := g.now()
	g.mu.Lock()
	for _, c := range open {
		g.suspect[c.CallID] = now
	}
	g.mu.Unlock()
	if len(open) > 0 {
		g.log.Info().Int("calls", len(open)).Msg("resuming calls left open by the previous run")
	}
	var wg sync.WaitGroup
	wg.Go(func() { g.pool.run(ctx) })
	wg.Go(func() { _ = g.disp.Run(ctx) })
	wg.Go(func() { g.resolveLoop(ctx) })
	wg.Go(func() { g.pruneLoop(ctx) })
	wg.Wait()
	return nil
}

// eventApplyTimeout bounds the store write of one event.
const eventApplyTimeout = 10 * time.Second

// onEvents applies engine events to their calls' records and queues the
// notifications they cause: record changes and notifications of the whole
// batch commit together, so a crash keeps all or none of them. It runs on
// the link's goroutine, so a call's events are applied in order.
func (g *Gateway) onEvents(l *engineLink, batch []control.Incoming) {
	now := g.now()
	updates := make([]store.CallUpdate, 0, len(batch))
	queued := make([]int, 0, len(batch))
	types := make([]string, 0, len(batch))
	for _, in := range batch {
		var typ string
		var fn func(c *store.Call) []store.Notification
		switch {
		case in.Status != nil:
			st := in.Status
			typ = string(st.Status)
			fn = func(c *store.Call) []store.Notification { return applyStatus(c, st, now) }
		case in.AMD != nil:
			ev := in.AMD
			typ = string(ev.Event.Type)
			fn = func(c *store.Call) []store.Notification { return applyAMD(c, ev, now) }
		default:
			continue
		}
		g.metrics.events.WithLabelValues(typ).Inc()
		k := len(queued)
		queued = append(queued, 0)
		types = append(types, typ)
		updates = append(updates, store.CallUpdate{CallID: in.CallID, Fn: func(c *store.Call) ([]store.Notification, error) {
			notes := fn(c)
			queued[k] = len(notes)
			return notes, nil
		}})
	}
	if len(updates) == 0 {
		return
	}
	// A store failure is retried briefly: dropping events could leave
	// calls unresolved until the loss timeout.
	var (
		errs []error
		err  error
	)
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), eventApplyTimeout)
		errs, err = g.store.UpdateCalls(ctx, updates)
		cancel()
		if err == nil || errors.Is(err, store.ErrClosed) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if err != nil {
		g.log.Error().Err(err).Int("events", len(updates)).Msg("apply engine events")
		return
	}
	wake := false
	for i, u := range updates {
		if errs[i] != nil {
			// ErrNotFound: another client's call on a shared engine.
			continue
		}
		g.unsuspect(u.CallID)
		wake = wake || queued[i] > 0
		g.log.Debug().Str("callId", u.CallID).Str("engine", l.url).Str("event", types[i]).Int("notifications", queued[i]).Msg("engine event")
	}
	if wake {
		g.disp.Wake()
	}
}

func (g *Gateway) unsuspect(callID string) {
	g.mu.Lock()
	delete(g.suspect, callID)
	g.mu.Unlock()
}

func (g *Gateway) markSuspect(callID string, since time.Time) {
	g.mu.Lock()
	if _, ok := g.suspect[callID]; !ok {
		g.suspect[callID] = since
	}
	g.mu.Unlock()
}

// onEngineDown makes every open call of the engine suspect.
func (g *Gateway) onEngineDown(l *engineLink, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open, oerr := g.store.OpenCalls(ctx)
	if oerr != nil {
		g.log.Error().Err(oerr).Msg("list open calls after engine loss")
		return
	}
	now := g.now()
	n := 0
	for _, c := range open {
		if c.EngineURL == l.url {
			g.markSuspect(c.CallID, now)
			n++
		}
	}
	if n > 0 {
		g.log.Warn().Err(err).Str("engine", l.url).Int("calls", n).Msg("calls waiting for their engine to come back")
	}
}

// onEngineUp re-subscribes to the engine's open calls: their events resume
// on this connection. The engine's ack carries each call's history, which
// the control client puts on the event stream ahead of the call's live
// events, so events sent while the gateway was away or dead — even the
// final status of a call that ended meanwhile — are stored now (applyStatus
// and applyAMD skip what was already stored) and the call resolves by its
// real outcome, not at the engine-loss timeout. An engine that no longer
// knows a call (unknown_call) resolves it at once.
func (g *Gateway) onEngineUp(ctx context.Context, l *engineLink, c EngineConn) {
	open, err := g.store.OpenCalls(ctx)
	if err != nil {
		g.log.Error().Err(err).Msg("list open calls after engine connect")
		return
	}
	for _, call := range open {
		if call.EngineURL != l.url {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, g.cfg.DialAckTimeout)
		st, err := c.SubscribeState(sctx, call.CallID)
		cancel()
		switch {
		case err == nil && st != nil:
			g.log.Info().Str("callId", call.CallID).Str("engine", l.url).Str("status", string(st.Status)).Bool("ended", st.Ended).
				Int("history", len(st.History)).Msg("re-subscribed; the engine's history is being applied")
		case err == nil:
			// An engine older than protocol 1.1: no replay, the call's
			// next event (or the loss timeout) settles it.
		case errors.Is(err, control.ErrUnknownCall):
			g.resolveLost(call.CallID, "engine no longer knows the call")
		default:
			g.log.Warn().Err(err).Str("callId", call.CallID).Msg("re-subscribe")
		}
	}
}

// pruneLoop deletes settled calls older than the retention, at start and
// then hourly, so the store does not grow with every call ever made.
func (g *Gateway) pruneLoop(ctx context.Context) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		n, err := g.store.Prune(ctx, g.now().Add(-g.cfg.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			g.log.Error().Err(err).Msg("prune old calls")
		case n > 0:
			g.log.Info().Int("calls", n).Dur("retention", g.cfg.Retention).Msg("pruned old calls")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolveLoop fails suspect calls that stayed unheard of for EngineLossTimeout.
func (g *Gateway) resolveLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.ResolveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := g.now()
		var due []string
		g.mu.Lock()
		for id, since := range g.suspect {
			if now.Sub(since) >= g.cfg.EngineLossTimeout {
				due = append(due, id)
			}
		}
		g.mu.Unlock()
		for _, id := range due {
			g.resolveLost(id, fmt.Sprintf("no word from the engine for %s after the connection was lost", g.cfg.EngineLossTimeout))
		}
	}
}

// resolveLost marks a call Failed with amd_error and, if its engine is
// connected, hangs it up so the engine and the record agree.
func (g *Gateway) resolveLost(callID, why string) {
	now := g.now()
	var engineURL string
	resolved, queued := false, 0
	ctx, cancel := context.WithTimeout(context.Background(), eventApplyTimeout)
	defer cancel()
	err := g.store.UpdateCall(ctx, callID, func(c *store.Call) ([]store.Notification, error) {
		engineURL = c.EngineURL
		resolved = !store.FinalStatus(c.Status)
		notes := applyLost(c, why, now)
		queued = len(notes)
		return notes, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		g.log.Error().Err(err).Str("callId", callID).Msg("resolve lost call")
		return
	}
	g.unsuspect(callID)
	if !resolved || err != nil {
		return // already final (its events won the race) or not ours
	}
	g.metrics.lost.Inc()
	g.log.Warn().Str("callId", callID).Str("why", why).Msg("call marked Failed: engine lost")
	if queued > 0 {
		g.disp.Wake()
	}
	if l := g.pool.byURL[engineURL]; l != nil {
		if c := l.current(); c != nil {
			_ = c.Hangup(ctx, callID)
		}
	}
}

// onAttempt feeds metrics and logs from the notifier.
func (g *Gateway) onAttempt(n store.Notification, o store.Outcome, took time.Duration) {
	g.metrics.attempts.WithLabelValues(o.State).Inc()
	g.metrics.attemptSeconds.Observe(took.Seconds())
	ev := g.log.Debug()
	if o.State == store.DeliveryFailed {
		ev = g.log.Warn()
	}
	ev.Str("callId", n.CallID).Str("key", n.Key).Str("status", n.Status).Str("state", o.State).
		Int("http", o.HTTPCode).Str("err", o.Err).Msg("notification attempt")
}

// DialResult is the dialout reply.
type DialResult struct {
	SID    string `json:"sid"`
	CallID string `json:"callId"`
}

// Dial errors.
var (
	// ErrEngineRefused: the engine refused the dial for a reason of its own.
	ErrEngineRefused = errors.New("engine refused the call")
)

func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Dial records the call, then asks an engine to place it. The record
// exists before the engine hears of the call, so a crash at any point
// after leaves a record the resolver will settle. Refusals by the engine
// are returned as *FieldError (invalid field), ErrNoEngine (none up or all
// at capacity) or ErrEngineRefused.
func (g *Gateway) Dial(ctx context.Context, botID, appID string, req *DialoutRequest, rawReq []byte) (DialResult, error) {
	now := g.now()
	res := DialResult{SID: newSID(), CallID: uuid.NewString()}
	skip := map[string]bool{}
	l, conn, err := g.pool.pick(skip)
	if err != nil {
		g.metrics.dialouts.WithLabelValues("no_engine").Inc()
		return DialResult{}, err
	}
	rec := &store.Call{
		CallID: res.CallID, SID: res.SID, BotID: botID, AppID: appID,
		Target: req.Target, Caller: req.Caller, Trunk: req.Trunk,
		NotifyURL: req.NotifyURL, NotifyHeaders: req.NotifyHeaders, Subscription: req.AMDEventsSubscription,
		MachineDetection: string(req.MachineDetection), Metadata: req.Metadata, Request: rawReq,
		EngineURL: l.url, Status: store.StatusQueued, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}
	if err := g.store.CreateCall(ctx, rec); err != nil {
		g.metrics.dialouts.WithLabelValues("store_error").Inc()
		return DialResult{}, fmt.Errorf("record call: %w", err)
	}
	d := control.Dial{
		CallID: res.CallID, Target: req.Target, Caller: req.Caller, Trunk: req.Trunk, TimeoutInMs: req.TimeoutInMs,
		Metadata: req.FlatMetadata(), Timers: req.Timers, MachineDetection: req.MachineDetection,
		ThresholdWordCount: req.ThresholdWordCount,
		// AMDEventsSubscription is not passed on: the gateway records every
		// AMD event for the interactions and filters what it notifies.
	}
	for {
		select {
		case <-conn.Done():
			// The connection died after pick: the dial was certainly not
			// sent, so another engine may take it.
			skip[l.url] = true
			next, nconn, perr := g.pool.pick(skip)
			if perr != nil {
				g.refused(res.CallID, ErrNoEngine)
				g.metrics.dialouts.WithLabelValues("no_engine").Inc()
				return DialResult{}, ErrNoEngine
			}
			if err := g.rebind(ctx, res.CallID, next.url); err != nil {
				return DialResult{}, err
			}
			l, conn = next, nconn
			continue
		default:
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.DialAckTimeout)
		_, err = conn.Dial(dctx, d)
		cancel()
		if err == nil {
			g.metrics.dialouts.WithLabelValues("ok").Inc()
			g.log.Info().Str("callId", res.CallID).Str("engine", l.url).Str("target", req.Target).Msg("dialout")
			return res, nil
		}
		var ce *control.CommandError
		if !errors.As(err, &ce) {
			// The dial may or may not have reached the engine: the call is
			// not dialled twice; it is suspect and will be settled by its
			// events or by the resolver, and the client learns the outcome
			// from notifications.
			g.markSuspect(res.CallID, g.now())
			g.metrics.dialouts.WithLabelValues("ambiguous").Inc()
			g.log.Warn().Err(err).Str("callId", res.CallID).Str("engine", l.url).Msg("dial outcome unknown; call is suspect")
			return res, nil
		}
		if errors.Is(err, control.ErrAtCapacity) || errors.Is(err, control.ErrUnauthorized) {
			skip[l.url] = true
			if next, nconn, perr := g.pool.pick(skip); perr == nil {
				if err := g.rebind(ctx, res.CallID, next.url); err != nil {
					return DialResult{}, err
				}
				l, conn = next, nconn
				continue
			}
			err = fmt.Errorf("%w: %v", ErrNoEngine, err)
		}
		g.refused(res.CallID, err)
		if errors.Is(err, control.ErrInvalidField) {
			g.metrics.dialouts.WithLabelValues("invalid").Inc()
			return DialResult{}, &FieldError{Field: ce.Field, Message: "refused by the engine: " + ce.Message}
		}
		g.metrics.dialouts.WithLabelValues("refused").Inc()
		if errors.Is(err, ErrNoEngine) {
			return DialResult{}, err
		}
		return DialResult{}, fmt.Errorf("%w: %v", ErrEngineRefused, err)
	}
}

// rebind records that a call is being dialled on another engine.
func (g *Gateway) rebind(ctx context.Context, callID, engineURL string) error {
	err := g.store.UpdateCall(ctx, callID, func(c *store.Call) ([]store.Notification, error) {
		c.EngineURL = engineURL
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("record call: %w", err)
	}
	return nil
}

// refused closes the record of a call the engine never took. No
// notification is queued: the API caller got the error in the reply.
func (g *Gateway) refused(callID string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), eventApplyTimeout)
	defer cancel()
	_ = g.store.UpdateCall(ctx, callID, func(c *store.Call) ([]store.Notification, error) {
		c.Status, c.EndReason = store.StatusFailed, "Failed"
		c.Reason, c.ReasonCode = "not dialled: "+cause.Error(), "Not-Dialled"
		c.DisconnectAt = g.now().UTC()
		return nil, nil
	})
}

// healthy reports the store's and engines' state for /healthz.
func (g *Gateway) health(ctx context.Context) (int, map[string]any) {
	engines := make([]map[string]any, 0, len(g.pool.links))
	for _, l := range g.pool.links {
		engines = append(engines, map[string]any{"url": l.url, "up": l.current() != nil})
	}
	body := map[string]any{"status": "ok", "engines": engines, "enginesUp": g.pool.up()}
	if _, _, err := g.store.ListCalls(ctx, store.Filter{Limit: 1}); err != nil {
		body["status"] = "store unavailable"
		body["error"] = err.Error()
		return http.StatusServiceUnavailable, body
	}
	return http.StatusOK, body
}
