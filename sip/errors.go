package sip

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Returned errors wrap them with %w; compare with errors.Is.
var (
	// ErrNoAnswer: the callee did not answer within the dial timeout; a
	// CANCEL was sent.
	ErrNoAnswer = errors.New("sip: no answer")
	// ErrNoCodec: the peer's SDP has no audio format we can decode.
	ErrNoCodec = errors.New("sip: no supported codec")
	// ErrSDP: the SDP body could not be parsed or has no usable audio stream.
	ErrSDP = errors.New("sip: malformed sdp")
	// ErrMediaTimeout: no RTP arrived for MediaTimeout after the answer.
	ErrMediaTimeout = errors.New("sip: media timeout")
	// ErrNoPorts: every RTP port of the range is in use or draining.
	ErrNoPorts = errors.New("sip: no free rtp port")
	// ErrUnknownTrunk: the dial request names a trunk the config lacks.
	ErrUnknownTrunk = errors.New("sip: unknown trunk")
	// ErrBadTarget: the dial target is neither a sip: URI nor a phone number.
	ErrBadTarget = errors.New("sip: bad dial target")
	// ErrClosed: the UA, call or media session was closed.
	ErrClosed = errors.New("sip: closed")
	// ErrInvalidConfig is wrapped by every Config.Validate error.
	ErrInvalidConfig = errors.New("sip: invalid config")
	// ErrTransport: the INVITE could not be sent or its transaction died
	// without a final response.
	ErrTransport = errors.New("sip: transport failure")
	// ErrInvalidHeader: a DialRequest header is reserved or malformed.
	ErrInvalidHeader = errors.New("sip: invalid header")
	// ErrCallerHangup: the dial context was cancelled by our side before
	// the answer (a CANCEL was sent).
	ErrCallerHangup = errors.New("sip: cancelled by caller")
)

// FinalResponseError is a non-2xx final response to our INVITE.
type FinalResponseError struct {
	StatusCode   int
	ReasonPhrase string
}

func (e *FinalResponseError) Error() string {
	return "sip: call failed: " + e.Reason()
}

// Reason is the status line as the dialout API reports it, e.g. "486 Busy Here".
func (e *FinalResponseError) Reason() string {
	return strconv.Itoa(e.StatusCode) + " " + e.ReasonCode()
}

// ReasonCode is the reason phrase, e.g. "Busy Here". A peer that sends an
// empty phrase gets the RFC 3261 default so reports never carry a bare number.
func (e *FinalResponseError) ReasonCode() string {
	if e.ReasonPhrase != "" {
		return e.ReasonPhrase
	}
	if p, ok := defaultPhrases[e.StatusCode]; ok {
		return p
	}
	return fmt.Sprintf("Status %d", e.StatusCode)
}

// defaultPhrases are RFC 3261's phrases for the final failures a dialler meets.
var defaultPhrases = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
	480: "Temporarily Unavailable", 484: "Address Incomplete", 486: "Busy Here",
	487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
