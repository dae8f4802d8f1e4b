package control

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// Handler is what the server asks the engine to do. Its methods are called
// from the connection's reader goroutine, so they must return promptly
// (Dial starts the call and returns; it does not wait for an answer).
// Returning a *FieldError refuses with invalid_field naming the field; a
// *CommandError or an error wrapping ErrAtCapacity / ErrUnknownCall picks
// the code; anything else becomes "internal".
type Handler interface {
	// Dial starts one outbound call. d.CallID is always set: the server picks
	// a UUID when the client sent none, so events can be routed before Dial
	// returns. It returns the call's ID (normally d.CallID).
	Dial(ctx context.Context, d Dial) (callID string, err error)
	// Hangup ends a call (CANCEL before answer, BYE after).
	Hangup(callID string) error
	// StopAMD stops a call's detector; the call goes on.
	StopAMD(callID string) error
}

// WebRTCHandler is implemented by engines that take WebRTC legs over the
// control channel. Without it webrtc.offer is refused with "unsupported".
type WebRTCHandler interface {
	WebRTCOffer(ctx context.Context, o WebRTCOffer) (answer WebRTCAnswer, err error)
}

// CallStater is implemented by engines that keep each call's history
// (amdd's manager). With it, a subscribe to one call with "replay" is
// answered with the call's state in the ack, or unknown_call when the
// engine never had the call or has forgotten it; without it (or without
// "replay") subscribe is acked without state.
type CallStater interface {
	// CallState returns what the call sent so far, or an error wrapping
	// ErrUnknownCall. The server calls it holding its routing lock, so that
	// no event falls between the state and the subscription: it must not
	// block and must not call back into the Server.
	CallState(callID string) (CallState, error)
}

// Server defaults.
const (
	// DefaultQueueSize is how many messages may wait for one connection's
	// writer; a client further behind than this is a slow consumer.
	DefaultQueueSize = 1024
	// DefaultWriteTimeout bounds one WebSocket write; a stuck peer is dropped.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultPingInterval is how often the server pings; a peer silent for
	// two intervals (no pong, no message) is dropped.
	DefaultPingInterval = 30 * time.Second
	// CloseReasonSlowConsumer is the close reason sent to a slow consumer.
	CloseReasonSlowConsumer = "slow consumer: event queue full"
	// CloseReasonShutdown is the close reason sent when the engine stops.
	CloseReasonShutdown = "engine shutting down"
)

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithToken requires "Authorization: Bearer <token>" at upgrade; empty
// disables the check.
func WithToken(token string) ServerOption { return func(s *Server) { s.token = token } }

// WithQueryToken also accepts the token as "?token=" on the upgrade URL,
// because a browser's WebSocket API cannot set an Authorization header
// (the WHIP example page watches its call that way). Off by default: a
// query string ends up in access logs.
func WithQueryToken(allow bool) ServerOption { return func(s *Server) { s.queryToken = allow } }

// WithLogger sets the server's logger.
func WithLogger(l zerolog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithQueueSize sets the per-connection outbound queue length.
func WithQueueSize(n int) ServerOption {
	return func(s *Server) {
		if n > 0 {
			s.queueSize = n
		}
	}
}

// WithWriteTimeout sets the deadline of one WebSocket write.
func WithWriteTimeout(d time.Duration) ServerOption {
	return func(s *Server) {
		if d > 0 {
			s.writeTimeout = d
		}
	}
}

// WithPingInterval sets the keep-alive ping interval.
func WithPingInterval(d time.Duration) ServerOption {
	return func(s *Server) {
		if d > 0 {
			s.pingInterval = d
		}
	}
}

// WithCheckOrigin replaces the upgrade's Origin check. The default accepts
// every origin because clients are services, not browsers, and the bearer
// token is the access control.
func WithCheckOrigin(f func(*http.Request) bool) ServerOption {
	return func(s *Server) { s.upgrader.CheckOrigin = f }
}

// Stats are the server's counters, read atomically (the daemon exports them
// as metrics).
type Stats struct {
	Connections       int64 // open now
	Accepted          int64 // total upgrades
	Unauthorized      int64 // upgrades refused for the token
	SlowConsumers     int64 // connections dropped because their queue was full
	BadMessages       int64 // messages answered with bad_message or invalid_field
	MessagesPublished int64 // events handed to Publish
}

// Server is the control channel's WebSocket endpoint. It is an http.Handler;
// mount it at /v1/control. Each connection has a reader (the HTTP handler
// goroutine, which runs commands in order) and one writer goroutine fed by a
// bounded queue, so a slow client can stall neither the engine nor other
// clients: when its queue is full it is disconnected.
type Server struct {
	handler      Handler
	token        string
	queryToken   bool // also accept ?token= (WithQueryToken)
	log          zerolog.Logger
	queueSize    int
	writeTimeout time.Duration
	pingInterval time.Duration
	upgrader     websocket.Upgrader

	ctx    context.Context // cancelled by Close; parent of Dial contexts
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per connection (reader + writer)

	mu      sync.Mutex
	closed  bool
	conns   map[*conn]struct{}
	all     map[*conn]struct{}            // subscribed to every call
	byCall  map[string]map[*conn]struct{} // dialled or subscribed per call
	dialing map[string]*conn              // calls whose Handler.Dial is running

	nConns, nAccepted, nUnauthorized, nSlow, nBad, nPublished atomic.Int64
}

// NewServer returns a server that runs commands on h.
func NewServer(h Handler, opts ...ServerOption) *Server {
	s := &Server{
		handler:      h,
		log:          zerolog.Nop(),
		queueSize:    DefaultQueueSize,
		writeTimeout: DefaultWriteTimeout,
		pingInterval: DefaultPingInterval,
		conns:        map[*conn]struct{}{},
		all:          map[*conn]struct{}{},
		byCall:       map[string]map[*conn]struct{}{},
		dialing:      map[string]*conn{},
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.nConns.Load(), Accepted: s.nAccepted.Load(), Unauthorized: s.nUnauthorized.Load(),
		SlowConsumers: s.nSlow.Load(), BadMessages: s.nBad.Load(), MessagesPublished: s.nPublished.Load(),
	}
}

// conn is one client connection. Its routing state (owned/subscribed calls)
// lives in the server's maps under s.mu; pending holds events of calls
// whose dial is still being handled, so the ack always precedes them.
type conn struct {
	ws      *websocket.Conn
	log     zerolog.Logger
	queue   chan []byte
	kill    chan struct{} // closed to make the writer close the socket
	killMu  sync.Once
	reason  atomic.Pointer[closeReason]
	calls   map[string]struct{} // calls this conn appears under in byCall (guarded by s.mu)
	pending map[string][][]byte // events held until a dial's ack (guarded by s.mu)
}

type closeReason struct {
	code int
	text string
}

func (s *Server) authorized(r *http.Request) bool {
	if s.token == "" {
		return true
	}
	if q := r.URL.Query().Get("token"); s.queryToken && q != "" {
		return subtle.ConstantTimeCompare([]byte(q), []byte(s.token)) == 1
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(prefix):])), []byte(s.token)) == 1
}

// ServeHTTP checks the token, upgrades and serves one connection until it
// closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.nUnauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="amdd"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		b, _ := marshal(&Error{Envelope: Envelope{V: Version, Type: TypeError}, Code: CodeUnauthorized, Message: "missing or wrong bearer token"})
		_, _ = w.Write(b)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, CloseReasonShutdown, http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1) // under mu so Close's Wait cannot miss it
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug().Err(err).Msg("control: upgrade failed")
		return
	}
	c := &conn{
		ws:      ws,
		log:     s.log.With().Str("remote", r.RemoteAddr).Logger(),
		queue:   make(chan []byte, s.queueSize),
		kill:    make(chan struct{}),
		calls:   map[string]struct{}{},
		pending: map[string][][]byte{},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, CloseReasonShutdown), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.nConns.Add(1)
	s.nAccepted.Add(1)
	c.log.Info().Msg("control: client connected")

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(c)
	}()
	s.readLoop(c)
	c.close(websocket.CloseNormalClosure, "")
	<-writerDone
	s.unregister(c)
	s.nConns.Add(-1)
	c.log.Info().Msg("control: client disconnected")
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	delete(s.all, c)
	for id := range c.calls {
		if m := s.byCall[id]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(s.byCall, id)
			}
		}
	}
}

// close asks the writer to send a close frame with the reason and close the
// socket; the first reason wins. It never blocks.
func (c *conn) close(code int, text string) {
	c.reason.CompareAndSwap(nil, &closeReason{code: code, text: text})
	c.killMu.Do(func() { close(c.kill) })
}

func (s *Server) writeLoop(c *conn) {
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	defer c.ws.Close() // unblocks the reader
	for {
		select {
		case b := <-c.queue:
			_ = c.ws.SetWriteDeadline(time.Now().Add(s.writeTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				c.log.Debug().Err(err).Msg("control: write failed")
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.writeTimeout)); err != nil {
				return
			}
		case <-c.kill:
			r := c.reason.Load()
			if r.code != websocket.ClosePolicyViolation {
				// Shutdown: deliver what is already queued (final call
				// statuses) before the close frame. A slow consumer gets
				// no such favour.
				s.drain(c)
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(r.code, r.text), time.Now().Add(time.Second))
			return
		}
	}
}

// drain writes what is queued, without waiting for more.
func (s *Server) drain(c *conn) {
	for {
		select {
		case b := <-c.queue:
			_ = c.ws.SetWriteDeadline(time.Now().Add(s.writeTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		default:
			return
		}
	}
}

func (s *Server) readLoop(c *conn) {
	c.ws.SetReadLimit(MaxMessageBytes)
	wait := 2 * s.pingInterval
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(wait)) })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.log.Debug().Err(err).Msg("control: read ended")
			}
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(wait))
		if typ != websocket.TextMessage {
			s.nBad.Add(1)
			s.reply(c, errorReply("", badMessage("", "binary messages are not part of the protocol")))
			continue
		}
		s.handle(c, data)
	}
}

// reply queues a direct answer to a command. A full queue means the client
// stopped reading: it is a slow consumer like any other.
func (s *Server) reply(c *conn, msg any) {
	b, err := marshal(msg)
	if err != nil {
		s.log.Error().Err(err).Msg("control: reply")
		return
	}
	s.mu.Lock()
	s.enqueueLocked(c, b)
	s.mu.Unlock()
}

// enqueueLocked hands b to c's writer without blocking; s.mu is held so
// that messages of one call keep their order across Publish and replies.
func (s *Server) enqueueLocked(c *conn, b []byte) {
	select {
	case c.queue <- b:
	default:
		if c.reason.Load() == nil {
			s.nSlow.Add(1)
			c.log.Warn().Int("queue", cap(c.queue)).Msg("control: slow consumer disconnected")
		}
		c.close(websocket.ClosePolicyViolation, CloseReasonSlowConsumer)
	}
}

func (s *Server) handle(c *conn, data []byte) {
	msg, env, err := DecodeCommand(data)
	if err != nil {
		s.nBad.Add(1)
		c.log.Debug().Err(err).Str("id", env.ID).Msg("control: refused message")
		s.reply(c, errorReply(env.ID, err))
		return
	}
	switch m := msg.(type) {
	case *Envelope: // ping
		s.reply(c, &Envelope{V: Version, Type: TypePong, ID: m.ID})
	case *Dial:
		s.dial(c, m)
	case *CallCommand:
		var err error
		if m.Type == TypeHangup {
			err = s.handler.Hangup(m.CallID)
		} else {
			err = s.handler.StopAMD(m.CallID)
		}
		s.ackOrError(c, m.ID, m.CallID, err)
	case *Subscribe:
		s.subscribe(c, m)
	case *WebRTCOffer:
		wh, ok := s.handler.(WebRTCHandler)
		if !ok {
			s.reply(c, errorReply(m.ID, &CommandError{Code: CodeUnsupported, Message: "this engine takes no WebRTC offers on the control channel"}))
			return
		}
		if m.CallID == "" {
			m.CallID = uuid.NewString()
		}
		s.mu.Lock()
		s.routeLocked(c, m.CallID)
		s.mu.Unlock()
		ans, err := wh.WebRTCOffer(s.ctx, *m)
		if err != nil {
			s.reply(c, errorReply(m.ID, err))
			return
		}
		ans.Envelope = Envelope{V: Version, Type: TypeWebRTCAnswer, ID: m.ID}
		s.reply(c, &ans)
	}
}

func (s *Server) ackOrError(c *conn, id, callID string, err error) {
	if err != nil {
		rep := errorReply(id, err)
		if rep.CallID == "" {
			rep.CallID = callID
		}
		s.reply(c, rep)
		return
	}
	s.reply(c, &Ack{Envelope: Envelope{V: Version, Type: TypeAck, ID: id}, CallID: callID})
}

// subscribe routes a call's events (or every call's) to c. For one call
// with replay, on an engine that keeps histories, the ack carries the
// call's state; the
// state is read, the ack queued and the route added under one hold of s.mu,
// which Publish also takes: every event of the call is either in the ack's
// history or queued after the ack, none is lost in between.
func (s *Server) subscribe(c *conn, m *Subscribe) {
	stater, hasState := s.handler.(CallStater)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.CallID == "" {
		s.all[c] = struct{}{}
		s.enqueueReplyLocked(c, &Ack{Envelope: Envelope{V: Version, Type: TypeAck, ID: m.ID}})
		return
	}
	if !hasState || !m.Replay {
		// Revision 1.0: accepted whether or not the call exists yet.
		s.routeLocked(c, m.CallID)
		s.enqueueReplyLocked(c, &Ack{Envelope: Envelope{V: Version, Type: TypeAck, ID: m.ID}, CallID: m.CallID})
		return
	}
	st, err := stater.CallState(m.CallID)
	if err != nil {
		rep := errorReply(m.ID, err)
		if rep.CallID == "" {
			rep.CallID = m.CallID
		}
		s.enqueueReplyLocked(c, rep)
		return
	}
	ack := &Ack{Envelope: Envelope{V: Version, Type: TypeAck, ID: m.ID}, CallID: m.CallID, State: &st}
	b, err := marshal(ack)
	if err == nil && len(b) > MaxMessageBytes {
		// Metadata (up to 32 KiB) rides on every status; the subscriber
		// has it from the dial, and the message must fit the peer's limit.
		st.History = withoutMetadata(st.History)
		st.MetadataOmitted = true
		b, err = marshal(ack)
	}
	if err == nil && len(b) > MaxMessageBytes {
		err = fmt.Errorf("call %s: state of %d bytes exceeds the message limit: %w", m.CallID, len(b), ErrInternal)
	}
	if err != nil {
		s.log.Error().Err(err).Msg("control: subscribe")
		s.enqueueReplyLocked(c, errorReply(m.ID, err))
		return
	}
	if !st.Ended {
		// An ended call publishes nothing more and was Forgotten: a route
		// would only leak.
		s.routeLocked(c, m.CallID)
	}
	s.enqueueLocked(c, b)
}

// withoutMetadata copies h with the statuses' metadata left out.
func withoutMetadata(h []HistoryEntry) []HistoryEntry {
	out := make([]HistoryEntry, len(h))
	for i, e := range h {
		if e.Status != nil && e.Status.Metadata != nil {
			st := *e.Status
			st.Metadata = nil
			e.Status = &st
		}
		out[i] = e
	}
	return out
}

// enqueueReplyLocked marshals and queues a reply; s.mu is held.
func (s *Server) enqueueReplyLocked(c *conn, msg any) {
	b, err := marshal(msg)
	if err != nil {
		s.log.Error().Err(err).Msg("control: reply")
		return
	}
	s.enqueueLocked(c, b)
}

// routeLocked makes c receive the events of callID.
func (s *Server) routeLocked(c *conn, callID string) {
	m := s.byCall[callID]
	if m == nil {
		m = map[*conn]struct{}{}
		s.byCall[callID] = m
	}
	m[c] = struct{}{}
	c.calls[callID] = struct{}{}
}

// dial runs a dial command. Events the call publishes while the handler is
// still running are held in c.pending and flushed right after the ack, so
// the dialling client always sees the ack first.
func (s *Server) dial(c *conn, d *Dial) {
	if d.CallID == "" {
		d.CallID = uuid.NewString()
	}
	id := d.CallID
	s.mu.Lock()
	if _, busy := s.dialing[id]; busy {
		s.mu.Unlock()
		s.reply(c, errorReply(d.ID, fieldErr("callId", "%q is already being dialled", id)))
		return
	}
	s.dialing[id] = c
	s.mu.Unlock()

	callID, err := s.handler.Dial(s.ctx, *d)

	s.mu.Lock()
	defer s.mu.Unlock()
	held := c.pending[id]
	delete(c.pending, id)
	delete(s.dialing, id)
	if err != nil {
		b, merr := marshal(errorReply(d.ID, err))
		if merr == nil {
			s.enqueueLocked(c, b)
		}
		return
	}
	if callID == "" {
		callID = id
	}
	b, merr := marshal(&Ack{Envelope: Envelope{V: Version, Type: TypeAck, ID: d.ID}, CallID: callID})
	if merr == nil {
		s.enqueueLocked(c, b)
	}
	for _, ev := range held {
		s.enqueueLocked(c, ev)
	}
	s.routeLocked(c, callID)
}

// Publish sends an event (a *CallStatus or *AMDEvent, or any message with
// an envelope) to every connection interested in callID: the one that
// dialled it, those subscribed to it and those subscribed to all calls. It
// never blocks: a connection whose queue is full is disconnected instead.
// Calls to Publish for one call must come from one goroutine (the call's
// owner) for the order to hold.
func (s *Server) Publish(callID string, msg any) {
	b, err := marshal(msg)
	if err != nil {
		s.log.Error().Err(err).Str("callId", callID).Msg("control: publish")
		return
	}
	s.nPublished.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	dialer := s.dialing[callID]
	if dialer != nil {
		dialer.pending[callID] = append(dialer.pending[callID], b)
	}
	for c := range s.all {
		if c != dialer {
			s.enqueueLocked(c, b)
		}
	}
	for c := range s.byCall[callID] {
		if _, dup := s.all[c]; !dup && c != dialer {
			s.enqueueLocked(c, b)
		}
	}
}

// Forget drops the routing of a call that ended, so that the server's maps
// do not grow with the number of calls ever made. The daemon calls it after
// the call's final status.
func (s *Server) Forget(callID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.byCall[callID] {
		delete(c.calls, callID)
	}
	delete(s.byCall, callID)
}

// Close disconnects every client with a "going away" close frame, cancels
// the context handed to Handler.Dial and waits for all connection
// goroutines. New upgrades are refused with 503.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.close(websocket.CloseGoingAway, CloseReasonShutdown)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}
