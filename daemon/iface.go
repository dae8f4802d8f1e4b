package daemon

import (
	"context"
	"time"

	"github.com/amd-engine/amd/engine"
)

// ProgressKind is one step of an outbound call's signalling.
type ProgressKind int

// Progress kinds, in the order a call meets them.
const (
	ProgressTrying     ProgressKind = iota + 1 // 100 Trying
	ProgressRinging                            // 180 Ringing
	ProgressEarlyMedia                         // 183 with SDP: Media() delivers frames
	ProgressAnswered                           // 200 OK, ACK sent: Media() delivers frames
	ProgressFailed                             // final non-2xx, no answer, transport failure: Err says which
	ProgressRemoteBye                          // the callee hung up after the answer
)

func (k ProgressKind) String() string {
	switch k {
	case ProgressTrying:
		return "trying"
	case ProgressRinging:
		return "ringing"
	case ProgressEarlyMedia:
		return "early_media"
	case ProgressAnswered:
		return "answered"
	case ProgressFailed:
		return "failed"
	case ProgressRemoteBye:
		return "remote_bye"
	}
	return "unknown"
}

// Progress is one signalling event of a call. Err is set on ProgressFailed;
// when the far end answered with a final failure it satisfies
// interface{ Reason() string; ReasonCode() string } ("486 Busy Here",
// "Busy Here"), as *sip.FinalResponseError does.
type Progress struct {
	Kind ProgressKind
	Err  error
}

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
