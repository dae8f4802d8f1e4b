package daemon

import (
	"context"
	"time"

	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/sip"
)

// Progress is one signalling step of a call. It is the sip package's type
// (an alias, so the owner reads the user agent's channel directly, with no
// forwarding goroutine); fakes in tests build the same values.
type Progress = sip.Progress

// ProgressKind names a signalling step.
type ProgressKind = sip.ProgressKind

// Progress kinds (see sip.ProgressKind).
const (
	ProgressTrying     = sip.ProgressTrying
	ProgressRinging    = sip.ProgressRinging
	ProgressEarlyMedia = sip.ProgressEarlyMedia
	ProgressAnswered   = sip.ProgressAnswered
	ProgressFailed     = sip.ProgressFailed
	ProgressRemoteBye  = sip.ProgressRemoteBye
	ProgressEnded      = sip.ProgressEnded
)

// DialRequest is what the manager asks a Dialer for.
type DialRequest struct {
	CallID  string
	Target  string
	Caller  string
	Trunk   string // empty: the dialer's default
	Timeout time.Duration
	Codecs  []string
}

// Dialer places outbound calls; Dial returns as soon as the INVITE is sent.
type Dialer interface {
	Dial(ctx context.Context, req DialRequest) (Call, error)
}

// Call is one outbound call's signalling and media, as the owner goroutine
// uses it.
type Call interface {
	// Progress delivers the call's signalling events in order.
	Progress() <-chan Progress
	// Media returns the call's media once early media or the answer made it
	// available, nil before.
	Media() Media
	// Hangup sends CANCEL before the answer, BYE after.
	Hangup(ctx context.Context) error
	// Close releases the call's sockets.
	Close() error
}

// MediaStats are a media session's counters, read at the end of a call.
type MediaStats struct {
	Packets      uint64
	Lost         uint64
	Late         uint64
	DecodeErrors uint64
}

// Media delivers the callee's audio as 20 ms, 8 kHz frames.
type Media interface {
	// ReadFrame fills pcm (160 samples) with the next frame. When no frame
	// arrived by deadline it returns an error wrapping
	// os.ErrDeadlineExceeded, so the owner can poll its channels between
	// frames; an error wrapping sip.ErrMediaTimeout means the session gave
	// up on the peer; any other error ends the media.
	ReadFrame(pcm []int16, deadline time.Time) error
	Stats() MediaStats
}

// Detector is the engine's per-call AMD state machine (*engine.Detector).
type Detector interface {
	Process(frame []int16) []engine.Event
	Finish() []engine.Event
	Stop() []engine.Event
	Fail(reason engine.Reason, msg string) []engine.Event
	Done() bool
}

// DetectorFactory makes one call's detector.
type DetectorFactory func(cfg engine.Config) (Detector, error)

// Publisher receives every call's statuses and AMD events, in order per
// call (*control.Server). Publish must not block.
type Publisher interface {
	Publish(callID string, msg any)
	Forget(callID string)
}
