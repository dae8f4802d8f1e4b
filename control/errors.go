package control

import (
	"errors"
	"fmt"
)

// Sentinel errors. A refused command surfaces on the client as a
// *CommandError whose Is matches the sentinel of its code, so callers write
// errors.Is(err, control.ErrAtCapacity) whatever side produced it.
var (
	// ErrBadMessage: not JSON, unknown type or wrong protocol version.
	ErrBadMessage = errors.New("bad message")
	// ErrInvalidField: a field failed validation.
	ErrInvalidField = errors.New("invalid field")
	// ErrUnknownCall: the callId names no live call.
	ErrUnknownCall = errors.New("unknown call")
	// ErrAtCapacity: the engine already runs its maximum number of calls.
	ErrAtCapacity = errors.New("at capacity")
	// ErrUnauthorized: the bearer token is missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnsupported: the engine does not implement this command.
	ErrUnsupported = errors.New("unsupported")
	// ErrInternal: the engine failed for a reason of its own.
	ErrInternal = errors.New("internal error")
	// ErrClosed: the connection is closed (locally or by the peer).
	ErrClosed = errors.New("control connection closed")
	// ErrSlowConsumer: the server closed the connection because the client
	// did not read its events fast enough.
	ErrSlowConsumer = errors.New("slow consumer")
)

// CodeUnsupported answers a command this engine does not implement (for
// example webrtc.offer on an engine built without WebRTC).
const CodeUnsupported = "unsupported"

// codeSentinels maps wire codes to sentinels, both ways.
var codeSentinels = map[string]error{
	CodeBadMessage:   ErrBadMessage,
	CodeInvalidField: ErrInvalidField,
	CodeUnknownCall:  ErrUnknownCall,
	CodeAtCapacity:   ErrAtCapacity,
	CodeUnauthorized: ErrUnauthorized,
	CodeUnsupported:  ErrUnsupported,
	CodeInternal:     ErrInternal,
}

// FieldError is a validation failure of one field. Field is the JSON path
// of the field as the client spelt it ("target", "timers.decisionTimeoutMs").
// A Handler returns it (possibly wrapped) to refuse a dial with
// invalid_field, e.g. for a trunk name the engine does not know.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("invalid field %s: %s", e.Field, e.Message) }

// Is makes errors.Is(err, ErrInvalidField) true for every FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidField }

// fieldErr builds a *FieldError with a formatted message.
func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// CommandError is a command refused with a wire code: what the client
// returns for an error reply, and what a Handler may return to choose the
// code itself. Is matches the sentinel of Code (ErrAtCapacity for
// at_capacity, ...).
type CommandError struct {
	Code    string
	Field   string
	Message string
	CallID  string
}

func (e *CommandError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is matches the sentinel error of e.Code.
func (e *CommandError) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// errorReply turns any error from validation or a Handler into the wire
// reply, choosing the code from the error's type or sentinel. Unknown errors
// become "internal" so a bug never looks like a client mistake.
func errorReply(id string, err error) *Error {
	rep := &Error{Envelope: Envelope{V: Version, Type: TypeError, ID: id}, Message: err.Error()}
	var fe *FieldError
	var ce *CommandError
	switch {
	case errors.As(err, &ce):
		rep.Code, rep.Field, rep.Message, rep.CallID = ce.Code, ce.Field, ce.Message, ce.CallID
	case errors.As(err, &fe):
		rep.Code, rep.Field, rep.Message = CodeInvalidField, fe.Field, fe.Message
	default:
		rep.Code = CodeInternal
		for code, s := range codeSentinels {
			if errors.Is(err, s) {
				rep.Code = code
				break
			}
		}
	}
	return rep
}
