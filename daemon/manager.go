package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/sip"
	"github.com/rs/zerolog"
)

// Defaults of the manager's knobs.
const (
	// DefaultMaxCalls bounds concurrent calls; each holds an RTP socket and a detector.
	DefaultMaxCalls = 100
	// DefaultMediaTimeout: no audio for this long after the answer is an AMD error.
	DefaultMediaTimeout = 5 * time.Second
	// DefaultRingTimeout applies when a dial has no timeoutInMs.
	DefaultRingTimeout = 60 * time.Second
	// DefaultPollInterval bounds how long the owner waits for a frame before
	// it looks at its command and progress channels again.
	DefaultPollInterval = 20 * time.Millisecond
	// DefaultHangupTimeout bounds a BYE/CANCEL transaction.
	DefaultHangupTimeout = 5 * time.Second
)

// Errors of the manager. Dial refusals carry control codes (see
// control.FieldError, control.ErrAtCapacity) so the control server replies
// with the right one.
var (
	// ErrClosed: the manager is shutting down and takes no new calls.
	ErrClosed = errors.New("daemon: shutting down")
	// ErrNoDetector: Config.NewDetector is nil while AMD is requested.
	ErrNoDetector = errors.New("daemon: no detector factory configured")
)

// Config configures a Manager.
type Config struct {
	// MaxCalls bounds concurrent calls; 0 means DefaultMaxCalls.
	MaxCalls int
	// MediaTimeout ends AMD with amd_error (media_timeout) and hangs up
	// when no frame arrives for this long after the answer.
	MediaTimeout time.Duration
	// RingTimeout is the dial timeout when the command sets none.
	RingTimeout time.Duration
	// PollInterval is the ReadFrame deadline between channel polls.
	PollInterval time.Duration
	// HangupTimeout bounds one BYE/CANCEL.
	HangupTimeout time.Duration
	// Trunks are the trunk names the dialer knows; a dial naming another is
	// refused with invalid_field "trunk". Empty disables the check.
	Trunks []string
	// NewDetector makes each answered call's detector.
	NewDetector DetectorFactory
	// HistoryRetention is how long an ended call's history still answers
	// subscribe; 0 means DefaultHistoryRetention.
	HistoryRetention time.Duration
	// HistoryMaxEnded bounds the ended calls retained at once; 0 means
	// DefaultHistoryMaxEnded.
	HistoryMaxEnded int
	// Log is the manager's logger; calls log with a callId field.
	Log zerolog.Logger
	// Metrics receives the daemon's counters; nil makes a private set.
	Metrics *Metrics
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (c *Config) applyDefaults() {
	if c.MaxCalls <= 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.HangupTimeout <= 0 {
		c.HangupTimeout = DefaultHangupTimeout
	}
	if c.HistoryRetention <= 0 {
		c.HistoryRetention = DefaultHistoryRetention
	}
	if c.HistoryMaxEnded <= 0 {
		c.HistoryMaxEnded = DefaultHistoryMaxEnded
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Manager runs outbound calls: it implements control.Handler and publishes
// each call's statuses and events to a Publisher.
type Manager struct {
	cfg    Config
	dialer Dialer
	pub    Publisher
	trunks map[string]bool

	ctx    context.Context // parent of every call; cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	calls  map[string]*callRun
	// ended holds the histories of ended calls for subscribe, endedOrder
	// the same in end order for pruning (history.go).
	ended      map[string]*retained
	endedOrder []*retained
}

// New returns a manager that dials through d and publishes to pub.
func New(cfg Config, d Dialer, pub Publisher) (*Manager, error) {
	if d == nil {
		return nil, errors.New("daemon: nil dialer")
	}
	if pub == nil {
		return nil, errors.New("daemon: nil publisher")
	}
	cfg.applyDefaults()
	m := &Manager{cfg: cfg, dialer: d, pub: pub, trunks: map[string]bool{}, calls: map[string]*callRun{}, ended: map[string]*retained{}}
	for _, t := range cfg.Trunks {
		m.trunks[t] = true
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	cfg.Metrics.registerHistory(m)
	return m, nil
}

// Metrics returns the manager's collectors.
func (m *Manager) Metrics() *Metrics { return m.cfg.Metrics }

// ActiveCalls returns the IDs of the calls in progress, sorted.
func (m *Manager) ActiveCalls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.calls))
	for id := range m.calls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

var _ control.Handler = (*Manager)(nil)

// Dial validates what only the daemon can (trunk, capacity, duplicate ID),
// sends the INVITE and starts the call's owner goroutine. ctx bounds only
// the sending of the INVITE; the call lives until it ends or Shutdown.
func (m *Manager) Dial(ctx context.Context, d control.Dial) (string, error) {
	id, err := m.dial(ctx, d)
	if err != nil {
		rep := control.CodeInternal
		var fe *control.FieldError
		switch {
		case errors.As(err, &fe):
			rep = control.CodeInvalidField
		case errors.Is(err, control.ErrAtCapacity):
			rep = control.CodeAtCapacity
		}
		m.cfg.Metrics.dialRefused.WithLabelValues(rep).Inc()
		m.cfg.Log.Info().Str("callId", d.CallID).Err(err).Msg("dial refused")
	}
	return id, err
}

func (m *Manager) dial(ctx context.Context, d control.Dial) (string, error) {
	if d.CallID == "" {
		return "", &control.FieldError{Field: "callId", Message: "required"}
	}
	if d.Trunk != "" && len(m.trunks) > 0 && !m.trunks[d.Trunk] {
		return "", &control.FieldError{Field: "trunk", Message: fmt.Sprintf("no trunk named %q", d.Trunk)}
	}
	amd := d.AMDConfig()
	if amd.Mode != engine.ModeDisabled && m.cfg.NewDetector == nil {
		return "", fmt.Errorf("dial %s: %w", d.CallID, ErrNoDetector)
	}
	timeout := m.cfg.RingTimeout
	if d.TimeoutInMs > 0 {
		timeout = time.Duration(d.TimeoutInMs) * time.Millisecond
	}

	// Reserve the slot before dialling so concurrent dials cannot overshoot.
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return "", &control.CommandError{Code: control.CodeInternal, Message: ErrClosed.Error()}
	case m.calls[d.CallID] != nil:
		m.mu.Unlock()
		return "", &control.FieldError{Field: "callId", Message: fmt.Sprintf("%q is already a live call", d.CallID)}
	case len(m.calls) >= m.cfg.MaxCalls:
		n := len(m.calls)
		m.mu.Unlock()
		return "", &control.CommandError{Code: control.CodeAtCapacity, Message: fmt.Sprintf("%d calls running (max-calls %d)", n, m.cfg.MaxCalls)}
	}
	cctx, cancel := context.WithCancel(m.ctx)
	run := newCallRun(m, d, amd, timeout, cancel)
	m.calls[d.CallID] = run
	m.mu.Unlock()

	start := m.cfg.Now()
	c, err := m.dialer.Dial(cctx, DialRequest{
		CallID: d.CallID, Target: d.Target, Caller: d.Caller, Trunk: d.Trunk, Timeout: timeout, Codecs: d.Codecs,
	})
	if err != nil {
		cancel()
		m.remove(d.CallID)
		switch {
		case errors.Is(err, sip.ErrUnknownTrunk):
			return "", &control.FieldError{Field: "trunk", Message: err.Error()}
		case errors.Is(err, sip.ErrBadTarget):
			return "", &control.FieldError{Field: "target", Message: err.Error()}
		case errors.Is(err, sip.ErrNoCodec):
			return "", &control.FieldError{Field: "codecs", Message: err.Error()}
		case errors.Is(err, sip.ErrNoPorts):
			return "", &control.CommandError{Code: control.CodeAtCapacity, Message: err.Error()}
		}
		return "", fmt.Errorf("dial %s: %w", d.Target, err)
	}
	run.call = c
	run.start = start
	m.cfg.Metrics.activeCalls.Inc()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.cfg.Metrics.activeCalls.Dec()
		defer m.retire(run)
		run.run(cctx)
	}()
	return d.CallID, nil
}

func (m *Manager) remove(id string) {
	m.mu.Lock()
	delete(m.calls, id)
	m.mu.Unlock()
}

func (m *Manager) send(id string, cmd command) error {
	m.mu.Lock()
	run := m.calls[id]
	m.mu.Unlock()
	if run == nil {
		return fmt.Errorf("call %q: %w", id, control.ErrUnknownCall)
	}
	return run.send(cmd)
}

// Hangup asks the call's owner to hang up (CANCEL or BYE).
func (m *Manager) Hangup(callID string) error { return m.send(callID, cmdHangup) }

// StopAMD asks the call's owner to stop its detector.
func (m *Manager) StopAMD(callID string) error { return m.send(callID, cmdStopAMD) }

// Shutdown hangs up every call (end reason KoreVG-disconnected), refuses
// new dials and waits for the owners to finish, or for ctx.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("daemon: shutdown: %d calls still ending: %w", len(m.ActiveCalls()), ctx.Err())
	}
}
