package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Incoming is one event received by a Client: exactly one of Status and AMD
// is set (WebRTC answers are replies, not events). Raw is the message as
// received, for clients that forward it unchanged (amdctl --json).
type Incoming struct {
	Type   string
	CallID string
	Status *CallStatus
	AMD    *AMDEvent
	Raw    json.RawMessage
	// Replay marks an event of the history that a subscribe ack carried
	// (see Client.SubscribeState): sent before, possibly already seen.
	Replay bool
}

// Client defaults.
const (
	// DefaultEventBuffer is the length of the Events channel. When it is
	// full the client stops reading the socket, replies included, and the
	// server eventually drops the connection as a slow consumer: consume
	// Events from a goroutine of its own.
	DefaultEventBuffer = 1024
	// DefaultDialTimeout bounds the WebSocket handshake when ctx has no deadline.
	DefaultDialTimeout = 10 * time.Second
	// DefaultIdleTimeout: a server silent this long (no message, no ping)
	// is taken for dead. amdd pings every DefaultPingInterval, so three
	// missed pings end the connection instead of hanging it forever on a
	// peer that vanished without closing TCP.
	DefaultIdleTimeout = 3 * DefaultPingInterval
)

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	eventBuffer  int
	writeTimeout time.Duration
	idleTimeout  time.Duration
	header       http.Header
}

// WithIdleTimeout sets how long the server may stay silent (no message, no
// ping) before the client gives the connection up.
func WithIdleTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) {
		if d > 0 {
			c.idleTimeout = d
		}
	}
}

// WithEventBuffer sets the length of the Events channel.
func WithEventBuffer(n int) ClientOption {
	return func(c *clientConfig) {
		if n > 0 {
			c.eventBuffer = n
		}
	}
}

// WithHeader adds headers to the upgrade request.
func WithHeader(h http.Header) ClientOption { return func(c *clientConfig) { c.header = h.Clone() } }

// Client is a connection to amdd's control channel, safe for concurrent use.
// It does not reconnect: when Done is closed the connection is gone and a
// new Client must be made. Reconnection policy (backoff, re-subscribing,
// reconciling calls dialled before the drop) belongs to the caller, who
// knows which calls matter.
type Client struct {
	ws           *websocket.Conn
	idle         time.Duration
	writeTimeout time.Duration
	writeMu      sync.Mutex
	nextID       atomic.Uint64

	mu      sync.Mutex
	pending map[string]chan any // command id → reply (*Ack, *Error, *Envelope, *WebRTCAnswer)
	err     error

	events  chan Incoming
	done    chan struct{}
	closing chan struct{} // closed by Close: unblocks deliver
	closed  atomic.Bool
	wg      sync.WaitGroup
}

// Connect opens a control connection to url (ws://host:port/v1/control),
// sending token as a bearer token when it is not empty. A refused token
// returns an error wrapping ErrUnauthorized.
func Connect(ctx context.Context, url, token string, opts ...ClientOption) (*Client, error) {
	cfg := clientConfig{eventBuffer: DefaultEventBuffer, writeTimeout: DefaultWriteTimeout, idleTimeout: DefaultIdleTimeout, header: http.Header{}}
	for _, o := range opts {
		o(&cfg)
	}
	if token != "" {
		cfg.header.Set("Authorization", "Bearer "+token)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDialTimeout)
		defer cancel()
	}
	d := websocket.Dialer{HandshakeTimeout: DefaultDialTimeout, ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, resp, err := d.DialContext(ctx, url, cfg.header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("control: connect %s: %w", url, ErrUnauthorized)
		}
		return nil, fmt.Errorf("control: connect %s: %w", url, err)
	}
	ws.SetReadLimit(MaxMessageBytes)
	idle := cfg.idleTimeout
	_ = ws.SetReadDeadline(time.Now().Add(idle))
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(idle))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.writeTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	c := &Client{
		idle:         idle,
		ws:           ws,
		writeTimeout: cfg.writeTimeout,
		pending:      map[string]chan any{},
		events:       make(chan Incoming, cfg.eventBuffer),
		done:         make(chan struct{}),
		closing:      make(chan struct{}),
	}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// Events delivers call.status and amd.event messages in the order the
// server sent them. It is closed after Done.
func (c *Client) Events() <-chan Incoming { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the connection ended: nil while it is up, ErrClosed after
// Close, an error wrapping ErrSlowConsumer when the server dropped us for
// reading too slowly, or the read error.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and waits for the reader goroutine.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		c.wg.Wait()
		return nil
	}
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	c.setErr(ErrClosed)
	close(c.closing)
	err := c.ws.Close()
	c.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.events)
	defer close(c.done)
	defer c.ws.Close()
	for {
		// The idle clock runs only while we wait for the server, not while
		// a slow Events consumer holds us in deliver.
		_ = c.ws.SetReadDeadline(time.Now().Add(c.idle))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce) && ce.Code == websocket.ClosePolicyViolation && ce.Text == CloseReasonSlowConsumer:
				c.setErr(fmt.Errorf("control: server closed the connection: %w", ErrSlowConsumer))
			case errors.As(err, &ce):
				c.setErr(fmt.Errorf("control: server closed the connection (%d %s): %w", ce.Code, ce.Text, ErrClosed))
			default:
				c.setErr(fmt.Errorf("control: read: %w", err))
			}
			c.failPending()
			return
		}
		msg, env, err := DecodeServerMessage(data)
		if err != nil {
			continue // a newer server's message type; skip rather than fail
		}
		switch m := msg.(type) {
		case *CallStatus:
			if !c.deliver(Incoming{Type: env.Type, CallID: m.CallID, Status: m, Raw: data}) {
				return
			}
		case *AMDEvent:
			if !c.deliver(Incoming{Type: env.Type, CallID: m.CallID, AMD: m, Raw: data}) {
				return
			}
		default:
			if ack, ok := msg.(*Ack); ok && ack.State != nil && !c.replay(ack) {
				return
			}
			c.mu.Lock()
			ch := c.pending[env.ID]
			delete(c.pending, env.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- msg // buffered 1
			}
		}
	}
}

// replay delivers the history of a subscribe ack on Events before the ack
// itself is handed to Subscribe: Events then holds the call's events in the
// order the engine sent them, history first, live events after.
func (c *Client) replay(ack *Ack) bool {
	for _, e := range ack.State.History {
		in := Incoming{CallID: ack.CallID, Replay: true}
		var msg any
		switch {
		case e.Status != nil:
			in.Type, in.Status, msg = TypeCallStatus, e.Status, e.Status
		case e.AMD != nil:
			in.Type, in.AMD, msg = TypeAMDEvent, e.AMD, e.AMD
		default:
			continue // an entry kind of a newer engine
		}
		if raw, err := marshal(msg); err == nil {
			in.Raw = raw
		}
		if !c.deliver(in) {
			return false
		}
	}
	return true
}

// deliver blocks while Events is full (back-pressure to the server) but
// gives up when the client is closed.
func (c *Client) deliver(in Incoming) bool {
	select {
	case c.events <- in:
		return true
	case <-c.closing:
		return false
	}
}

func (c *Client) failPending() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// roundTrip sends cmd (whose envelope ID it sets) and waits for the reply.
func (c *Client) roundTrip(ctx context.Context, env *Envelope, cmd any) (any, error) {
	env.V = Version
	env.ID = "c" + strconv.FormatUint(c.nextID.Add(1), 10)
	b, err := marshal(cmd)
	if err != nil {
		return nil, err
	}
	ch := make(chan any, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[env.ID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, env.ID)
		c.mu.Unlock()
	}

	c.writeMu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	err = c.ws.WriteMessage(websocket.TextMessage, b)
	c.writeMu.Unlock()
	if err != nil {
		forget()
		return nil, fmt.Errorf("control: send %s: %w", env.Type, err)
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			if e := c.Err(); e != nil {
				return nil, e
			}
			return nil, ErrClosed
		}
		if e, isErr := rep.(*Error); isErr {
			return nil, &CommandError{Code: e.Code, Field: e.Field, Message: e.Message, CallID: e.CallID}
		}
		return rep, nil
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("control: %s: %w", env.Type, ctx.Err())
	}
}

// Dial places a call and returns its ID once the engine accepted it (the
// call's progress then arrives on Events). A refusal is a *CommandError:
// errors.Is(err, ErrInvalidField) with Field naming the field,
// ErrAtCapacity, ... . d's envelope is filled in by the client.
func (c *Client) Dial(ctx context.Context, d Dial) (string, error) {
	d.Type = TypeDial
	rep, err := c.roundTrip(ctx, &d.Envelope, &d)
	if err != nil {
		return "", err
	}
	ack, ok := rep.(*Ack)
	if !ok || ack.CallID == "" {
		return "", fmt.Errorf("control: dial: unexpected reply %T: %w", rep, ErrBadMessage)
	}
	return ack.CallID, nil
}

func (c *Client) callCommand(ctx context.Context, typ, callID string) error {
	cmd := CallCommand{Envelope: Envelope{Type: typ}, CallID: callID}
	rep, err := c.roundTrip(ctx, &cmd.Envelope, &cmd)
	if err != nil {
		return err
	}
	if _, ok := rep.(*Ack); !ok {
		return fmt.Errorf("control: %s: unexpected reply %T: %w", typ, rep, ErrBadMessage)
	}
	return nil
}

// Hangup ends a call (CANCEL before answer, BYE after).
func (c *Client) Hangup(ctx context.Context, callID string) error {
	return c.callCommand(ctx, TypeHangup, callID)
}

// StopAMD stops a call's detection; the call goes on.
func (c *Client) StopAMD(ctx context.Context, callID string) error {
	return c.callCommand(ctx, TypeAMDStop, callID)
}

// Subscribe asks for the events of callID, or of every call when empty.
// A call that does not exist yet is accepted: its events come when it does.
func (c *Client) Subscribe(ctx context.Context, callID string) error {
	return c.subscribe(ctx, Subscribe{CallID: callID})
}

// SubscribeState subscribes to one call with replay and returns its state
// from the ack; nil from an engine older than protocol revision 1.1. The
// state's History has already been put on Events (Incoming.Replay set),
// ahead of any live event of the call, when SubscribeState returns, so a
// consumer of Events sees the call's whole story in order (deduplicate by
// AMD seq and status: an event sent during the subscribe may come twice).
// A call the engine does not know (any more) is an error matching
// ErrUnknownCall.
func (c *Client) SubscribeState(ctx context.Context, callID string) (*CallState, error) {
	if callID == "" {
		return nil, fmt.Errorf("control: subscribe with replay: %w", &FieldError{Field: "callId", Message: "required"})
	}
	cmd := Subscribe{Envelope: Envelope{Type: TypeSubscribe}, CallID: callID, Replay: true}
	rep, err := c.roundTrip(ctx, &cmd.Envelope, &cmd)
	if err != nil {
		return nil, err
	}
	ack, ok := rep.(*Ack)
	if !ok {
		return nil, fmt.Errorf("control: subscribe: unexpected reply %T: %w", rep, ErrBadMessage)
	}
	return ack.State, nil
}

func (c *Client) subscribe(ctx context.Context, cmd Subscribe) error {
	cmd.Type = TypeSubscribe
	rep, err := c.roundTrip(ctx, &cmd.Envelope, &cmd)
	if err != nil {
		return err
	}
	if _, ok := rep.(*Ack); !ok {
		return fmt.Errorf("control: subscribe: unexpected reply %T: %w", rep, ErrBadMessage)
	}
	return nil
}

// Ping checks the connection end to end and returns the round-trip time.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	env := Envelope{Type: TypePing}
	rep, err := c.roundTrip(ctx, &env, &env)
	if err != nil {
		return 0, err
	}
	if p, ok := rep.(*Envelope); !ok || p.Type != TypePong {
		return 0, fmt.Errorf("control: ping: unexpected reply %T: %w", rep, ErrBadMessage)
	}
	return time.Since(start), nil
}

// WebRTCOffer sends an SDP offer and returns the engine's answer.
func (c *Client) WebRTCOffer(ctx context.Context, o WebRTCOffer) (*WebRTCAnswer, error) {
	o.Type = TypeWebRTCOffer
	rep, err := c.roundTrip(ctx, &o.Envelope, &o)
	if err != nil {
		return nil, err
	}
	a, ok := rep.(*WebRTCAnswer)
	if !ok {
		return nil, fmt.Errorf("control: webrtc.offer: unexpected reply %T: %w", rep, ErrBadMessage)
	}
	return a, nil
}
