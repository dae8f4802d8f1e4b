package audiofile

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error Load and Decode return wraps exactly one of
// them, so callers can branch with errors.Is while the message stays a single
// readable line (the CLI prefixes the file name).
var (
	// ErrUnsupported: the content is recognised but not a format (or a
	// variant of one) this package decodes, e.g. MP3, 24-bit WAV, Ogg Vorbis.
	ErrUnsupported = errors.New("unsupported format")
	// ErrTruncated: the file ends inside a header or before any audio.
	ErrTruncated = errors.New("truncated file")
	// ErrEmpty: the file is well formed but holds no audio samples (or,
	// for captures, no RTP stream).
	ErrEmpty = errors.New("no audio")
	// ErrCorrupt: a header field is impossible or inconsistent.
	ErrCorrupt = errors.New("corrupt file")
	// ErrTooLong: the decoded audio would exceed MaxDurationMs.
	ErrTooLong = errors.New("audio too long")
)

// Error is the concrete error type: a one-line message and the sentinel it
// belongs to.
type Error struct {
	Kind error  // one of the sentinels above
	Msg  string // full message, e.g. "wav: truncated fmt chunk"
	Err  error  // optional underlying cause (e.g. an I/O error)
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match both the sentinel and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// wrapIO turns a read error into a message for the given context: an early
// end of input is a truncation, anything else is passed through.
func wrapIO(kind error, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...) + ": " + cause.Error(), Err: cause}
}
