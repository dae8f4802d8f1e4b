package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/amd-engine/amd/gateway/store"
)

// Defaults of the retry policy.
const (
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	// DefaultMaxAge: a notification still failing 24 h after it was queued is
	// given up and recorded as failed.
	DefaultMaxAge         = 24 * time.Hour
	DefaultAttemptTimeout = 10 * time.Second
	DefaultWorkers        = 16
	// maxResponseDrain bounds how much of a receiver's reply is read; the
	// body is only read so the connection can be reused.
	maxResponseDrain = 64 << 10
)

// Outbox is what the Dispatcher needs from the store.
type Outbox interface {
	DueNotifications(ctx context.Context, now time.Time, busy map[string]bool, limit int) ([]store.Notification, error)
	NextDue(ctx context.Context, busy map[string]bool) (time.Time, bool, error)
	RecordAttempt(ctx context.Context, id int64, o store.Outcome) error
}

// Policy is the retry policy.
type Policy struct {
	BaseBackoff    time.Duration
	MaxBackoff     time.Duration
	MaxAge         time.Duration
	AttemptTimeout time.Duration
}

// DefaultPolicy returns the production policy.
func DefaultPolicy() Policy {
	return Policy{BaseBackoff: DefaultBaseBackoff, MaxBackoff: DefaultMaxBackoff, MaxAge: DefaultMaxAge, AttemptTimeout: DefaultAttemptTimeout}
}

// Backoff returns the wait after the attempts-th failed attempt (1-based):
// exponential with "equal jitter" (half fixed, half random) so receivers that
// come back are not hit by every gateway's retries in the same second.
func (p Policy) Backoff(attempts int) time.Duration {
	d := p.BaseBackoff
	for i := 1; i < attempts && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// Dispatcher drains the outbox. One goroutine (Run) owns the set of calls
// with a delivery in flight; a call never has two, which is what keeps a
// call's notifications in order.
type Dispatcher struct {
	outbox  Outbox
	secret  []byte
	client  *http.Client
	policy  Policy
	workers int
	wake    chan struct{}
	now     func() time.Time
	// onAttempt, when set, observes every attempt (metrics, logs).
	onAttempt func(n store.Notification, o store.Outcome, took time.Duration)
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithPolicy sets the retry policy.
func WithPolicy(p Policy) Option { return func(d *Dispatcher) { d.policy = p } }

// WithWorkers bounds concurrent deliveries (across calls).
func WithWorkers(n int) Option { return func(d *Dispatcher) { d.workers = max(1, n) } }

// WithHTTPClient replaces the HTTP client (its redirect policy is kept off).
func WithHTTPClient(c *http.Client) Option { return func(d *Dispatcher) { d.client = c } }

// WithAttemptHook observes every delivery attempt.
func WithAttemptHook(f func(n store.Notification, o store.Outcome, took time.Duration)) Option {
	return func(d *Dispatcher) { d.onAttempt = f }
}

// NewDispatcher returns a Dispatcher over outbox signing with secret.
func NewDispatcher(outbox Outbox, secret []byte, opts ...Option) *Dispatcher {
	d := &Dispatcher{
		outbox:  outbox,
		secret:  secret,
		policy:  DefaultPolicy(),
		workers: DefaultWorkers,
		wake:    make(chan struct{}, 1),
		now:     time.Now,
	}
	for _, o := range opts {
		o(d)
	}
	if d.client == nil {
		d.client = &http.Client{}
	}
	c := *d.client
	// A redirect is the receiver's configuration error: following it would
	// turn a POST into a GET (301/302) or send the body somewhere unsigned-for.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.client = &c
	return d
}

// Wake tells Run that new notifications were queued. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

type result struct {
	n    store.Notification
	o    store.Outcome
	took time.Duration
}

// idlePoll bounds how long Run sleeps with nothing due, so a row written by
// another process (or a missed Wake) is still picked up.
const idlePoll = 5 * time.Second

// errPoll is the pause after a store error before trying again.
const errPoll = time.Second

// Run delivers until ctx is done, then waits for in-flight attempts. An
// attempt cut short by shutdown is not recorded: the row stays pending and is
// sent again (same idempotency key) after restart.
func (d *Dispatcher) Run(ctx context.Context) error {
	busy := make(map[string]bool)
	results := make(chan result, d.workers)
	var wg sync.WaitGroup
	defer func() {
		// Attempts that finished with a real outcome while shutting down
		// are recorded, so a delivered notification is not sent again.
		wg.Wait()
		close(results)
		for r := range results {
			d.record(ctx, r)
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := idlePoll
		if free := d.workers - len(busy); free > 0 {
			due, err := d.outbox.DueNotifications(ctx, d.now(), busy, free)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				wait = errPoll
			}
			for _, n := range due {
				busy[n.CallID] = true
				wg.Go(func() {
					start := time.Now()
					o := d.attempt(ctx, n)
					results <- result{n: n, o: o, took: time.Since(start)}
				})
			}
			if err == nil {
				if next, ok, err := d.outbox.NextDue(ctx, busy); err == nil && ok {
					wait = min(wait, max(0, next.Sub(d.now())))
				}
			}
		}
		// Millisecond timestamps round down: floor the wait so a head due
		// within the same millisecond cannot make the loop spin.
		wait = max(wait, time.Millisecond)
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		case r := <-results:
			d.record(ctx, r)
			delete(busy, r.n.CallID)
			// Collect whatever else finished before querying again.
			for more := true; more; {
				select {
				case r := <-results:
					d.record(ctx, r)
					delete(busy, r.n.CallID)
				default:
					more = false
				}
			}
		}
	}
}

func (d *Dispatcher) record(ctx context.Context, r result) {
	if ctx.Err() != nil && r.o.Err == errShutdown {
		return
	}
	if d.onAttempt != nil {
		d.onAttempt(r.n, r.o, r.took)
	}
	// The record must land even while shutting down: a delivered row left
	// pending would be sent again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// An error leaves the row pending; it is retried with the same key,
	// which at-least-once allows.
	_ = d.outbox.RecordAttempt(rctx, r.n.ID, r.o)
}

const errShutdown = "shutdown"

// attempt POSTs n once and classifies the outcome.
func (d *Dispatcher) attempt(ctx context.Context, n store.Notification) store.Outcome {
	now := d.now()
	o := store.Outcome{At: now}
	code, retryAfter, err := d.post(ctx, n, now)
	o.HTTPCode = code
	switch {
	case ctx.Err() != nil:
		o.State, o.Err = store.DeliveryPending, errShutdown
		return o
	case err == nil && code >= 200 && code < 300:
		o.State = store.DeliveryDelivered
		return o
	case err != nil:
		o.Err = err.Error()
	default:
		o.Err = "HTTP " + strconv.Itoa(code)
	}
	if errors.Is(err, errPermanent) || (err == nil && !Retryable(code)) {
		o.State = store.DeliveryFailed
		return o
	}
	wait := d.policy.Backoff(n.Attempts + 1)
	// A receiver that says when to come back is believed, within MaxBackoff.
	if retryAfter > wait {
		wait = min(retryAfter, d.policy.MaxBackoff)
	}
	// Count the wait from the answer, not from the request: Retry-After
	// means "after this response", and a slow receiver must not shorten it.
	next := d.now().Add(wait)
	if next.Sub(n.CreatedAt) > d.policy.MaxAge {
		o.State = store.DeliveryFailed
		o.Err = fmt.Sprintf("gave up after %s: %s", d.policy.MaxAge, o.Err)
		return o
	}
	o.State, o.Next = store.DeliveryPending, next
	return o
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(DefaultMaxAge/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(0, t.Sub(now)), DefaultMaxAge), true
}

// Retryable reports whether an HTTP status is worth retrying: the receiver
// is overloaded or broken for now (408, 429, 5xx); any other 4xx means the
// request itself is refused and retrying would not change that.
func Retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// errPermanent marks failures no retry can fix (no URL, a URL that does
// not parse).
var errPermanent = errors.New("permanent")

// ErrNoURL: the notification has no URL to go to.
var ErrNoURL = fmt.Errorf("notification without url (%w)", errPermanent)

func (d *Dispatcher) post(ctx context.Context, n store.Notification, now time.Time) (code int, retryAfter time.Duration, err error) {
	if n.URL == "" {
		return 0, 0, ErrNoURL
	}
	actx, cancel := context.WithTimeout(ctx, d.policy.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, n.URL, bytes.NewReader(n.Body))
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %v (%w)", err, errPermanent)
	}
	// The call's own headers first, so they can never override ours.
	for k, v := range n.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "amdgw")
	req.Header.Set(IdempotencyHeader, n.Key)
	req.Header.Set(SequenceHeader, strconv.Itoa(n.Seq))
	req.Header.Set(SignatureHeader, Sign(d.secret, now, n.Body))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("post %s: %w", n.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	resp.Body.Close()
	retryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	return resp.StatusCode, retryAfter, nil
}
