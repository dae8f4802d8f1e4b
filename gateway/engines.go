package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/amd-engine/amd/control"
)

// EngineConn is one live control connection to an engine. *control.Client
// satisfies it; tests may substitute their own.
type EngineConn interface {
	Dial(ctx context.Context, d control.Dial) (string, error)
	Hangup(ctx context.Context, callID string) error
	// SubscribeState subscribes to one call with replay: its history is put
	// on Events ahead of its live events (see control.Client.SubscribeState).
	SubscribeState(ctx context.Context, callID string) (*control.CallState, error)
	Events() <-chan control.Incoming
	Done() <-chan struct{}
	Err() error
	Close() error
}

// ConnectFunc opens an EngineConn.
type ConnectFunc func(ctx context.Context, url, token string) (EngineConn, error)

// ControlConnect is the production ConnectFunc: control.Connect.
func ControlConnect(ctx context.Context, url, token string) (EngineConn, error) {
	c, err := control.Connect(ctx, url, token)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ErrNoEngine: no engine connection is up.
var ErrNoEngine = errors.New("no engine reachable")

// engineLink keeps one engine connected: it owns the connection's
// lifecycle and reads its events in one goroutine, so a call's events are
// applied in the order the engine sent them.
type engineLink struct {
	url  string
	conn atomic.Pointer[connBox]
	// downSince is when the link last lost (or never had) its connection,
	// unix ms; 0 while it is up.
	downSince atomic.Int64
	// generation counts successful connects, so a reconciliation knows
	// whether the connection it started on is still the current one.
	generation atomic.Uint64
}

type connBox struct{ c EngineConn }

func (l *engineLink) current() EngineConn {
	if b := l.conn.Load(); b != nil {
		return b.c
	}
	return nil
}

// enginePool is the set of links.
type enginePool struct {
	links   []*engineLink
	byURL   map[string]*engineLink
	rr      atomic.Uint64
	connect ConnectFunc
	token   string
	minWait time.Duration
	maxWait time.Duration
	log     zerolog.Logger
	// onEvents applies a batch of events in order; called from the link's goroutine.
	onEvents func(l *engineLink, batch []control.Incoming)
	// onUp runs (in its own goroutine) after each (re)connect.
	onUp func(ctx context.Context, l *engineLink, c EngineConn)
	// onDown runs after a connection is lost.
	onDown func(l *engineLink, err error)
}

func newEnginePool(urls []string) *enginePool {
	p := &enginePool{byURL: map[string]*engineLink{}}
	now := time.Now().UnixMilli()
	for _, u := range urls {
		l := &engineLink{url: u}
		l.downSince.Store(now)
		p.links = append(p.links, l)
		p.byURL[u] = l
	}
	return p
}

// pick returns the next connected link, round-robin, skipping skip.
func (p *enginePool) pick(skip map[string]bool) (*engineLink, EngineConn, error) {
	n := len(p.links)
	start := int(p.rr.Add(1))
	for i := range n {
		l := p.links[(start+i)%n]
		if skip[l.url] {
			continue
		}
		if c := l.current(); c != nil {
			return l, c, nil
		}
	}
	return nil, nil, ErrNoEngine
}

// up reports how many links are connected.
func (p *enginePool) up() int {
	n := 0
	for _, l := range p.links {
		if l.current() != nil {
			n++
		}
	}
	return n
}

// run keeps every link connected until ctx is done.
func (p *enginePool) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, l := range p.links {
		wg.Go(func() { p.runLink(ctx, l) })
	}
	wg.Wait()
}

func (p *enginePool) backoff(failures int) time.Duration {
	d := p.minWait
	for i := 1; i < failures && d < p.maxWait; i++ {
		d *= 2
	}
	d = min(d, p.maxWait)
	// Jitter so several gateways do not reconnect to a restarted engine in lockstep.
	return d/2 + rand.N(d/2+1)
}

func (p *enginePool) runLink(ctx context.Context, l *engineLink) {
	var wg sync.WaitGroup // the onUp goroutines of this link
	defer wg.Wait()
	failures := 0
	for ctx.Err() == nil {
		c, err := p.connect(ctx, l.url, p.token)
		if err != nil {
			failures++
			if failures == 1 || failures%10 == 0 {
				p.log.Warn().Err(err).Str("engine", l.url).Int("failures", failures).Msg("engine connect failed")
			}
			select {
			case <-ctx.Done():
			case <-time.After(p.backoff(failures)):
			}
			continue
		}
		failures = 0
		l.generation.Add(1)
		l.conn.Store(&connBox{c})
		l.downSince.Store(0)
		p.log.Info().Str("engine", l.url).Msg("engine connected")
		if p.onUp != nil {
			wg.Go(func() { p.onUp(ctx, l, c) })
		}
		p.drain(ctx, l, c)
		l.downSince.Store(time.Now().UnixMilli())
		l.conn.Store(nil)
		_ = c.Close()
		if ctx.Err() != nil {
			return
		}
		p.log.Warn().Err(c.Err()).Str("engine", l.url).Msg("engine connection lost")
		if p.onDown != nil {
			p.onDown(l, c.Err())
		}
	}
}

// maxEventBatch bounds how many queued events are applied in one store
// transaction.
const maxEventBatch = 256

// drain applies c's events until the connection ends or ctx is done. What
// has queued up while the previous batch was being written is taken as the
// next batch: one commit for many events when the engine is busy, no added
// latency when it is not.
func (p *enginePool) drain(ctx context.Context, l *engineLink, c EngineConn) {
	events := c.Events()
	batch := make([]control.Incoming, 0, maxEventBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case in, ok := <-events:
			if !ok {
				return
			}
			batch = append(batch[:0], in)
			open := true
		more:
			for open && len(batch) < maxEventBatch {
				select {
				case in, ok := <-events:
					if !ok {
						open = false
						break more
					}
					batch = append(batch, in)
				default:
					break more
				}
			}
			p.onEvents(l, batch)
			if !open {
				return
			}
		}
	}
}
