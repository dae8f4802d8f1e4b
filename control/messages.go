package control

import (
	"encoding/json"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/engine"
)

// Version is the protocol version carried in every message as "v". A server
// rejects messages of another major version with an error naming "v".
const Version = 1

// Message types, client to server (commands).
const (
	TypeDial        = "dial"
	TypeHangup      = "hangup"
	TypeAMDStop     = "amd.stop"
	TypeSubscribe   = "subscribe"
	TypeWebRTCOffer = "webrtc.offer"
	TypePing        = "ping"
)

// Message types, server to client (replies and events).
const (
	TypeAck          = "ack"
	TypeError        = "error"
	TypeCallStatus   = "call.status"
	TypeAMDEvent     = "amd.event"
	TypeWebRTCAnswer = "webrtc.answer"
	TypePong         = "pong"
)

// Envelope is the part every message shares. ID correlates a command with its
// ack or error; events carry no ID.
type Envelope struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// Dial asks the engine to place one outbound call. Field names are the dialout
// API's, so a gateway can pass them through.
type Dial struct {
	Envelope
	// CallID may be set by the client (the gateway does, so its record exists
	// before the call); empty means the engine picks one.
	CallID                string            `json:"callId,omitempty"`
	Target                string            `json:"target"`
	Caller                string            `json:"caller"`
	Trunk                 string            `json:"trunk,omitempty"`
	TimeoutInMs           int               `json:"timeoutInMs,omitempty"`
	Metadata              map[string]string `json:"metadata,omitempty"`
	Timers                engine.Timers     `json:"timers"`
	MachineDetection      engine.Mode       `json:"machineDetection,omitempty"`
	ThresholdWordCount    int               `json:"thresholdWordCount,omitempty"`
	AMDEventsSubscription []string          `json:"amdEventsSubscription,omitempty"`
	// Codecs optionally restricts the offer (pcmu, pcma, opus), in preference order.
	Codecs []string `json:"codecs,omitempty"`
}

// CallCommand is hangup and amd.stop: a command about one existing call.
type CallCommand struct {
	Envelope
	CallID string `json:"callId"`
}

// Subscribe asks for the events of one call ("callId") or of every call
// (empty). A connection always receives the events of the calls it dialled.
type Subscribe struct {
	Envelope
	CallID string `json:"callId,omitempty"`
	// Replay (revision 1.1, with a callId) asks for the call's state and
	// history in the ack, and for unknown_call when the engine does not
	// know the call (any more). Without it a subscription to a call that
	// does not exist yet is accepted and waits for it, as in 1.0.
	Replay bool `json:"replay,omitempty"`
}

// WebRTCOffer hands the engine a WebRTC SDP offer for a leg whose audio is to
// be analysed; the reply is a webrtc.answer.
type WebRTCOffer struct {
	Envelope
	CallID             string            `json:"callId,omitempty"`
	SDP                string            `json:"sdp"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	Timers             engine.Timers     `json:"timers"`
	MachineDetection   engine.Mode       `json:"machineDetection,omitempty"`
	ThresholdWordCount int               `json:"thresholdWordCount,omitempty"`
}

// Ack answers a command that was accepted.
type Ack struct {
	Envelope
	CallID string `json:"callId,omitempty"`
	// State answers a subscribe with "replay" (revision 1.1) on engines that
	// keep call histories: what the call did so far, so a client that missed
	// events (it restarted, its connection dropped) can catch up.
	State *CallState `json:"state,omitempty"`
}

// Revision is the protocol's minor revision within Version: 1 added
// subscribe's "replay", answered with the call's "state" in the ack or
// unknown_call. Additive only: an older engine ignores "replay" and acks
// without state, an older client never sends it.
const Revision = 1

// CallState is a call's state as the engine knows it, in a subscribe ack.
type CallState struct {
	// Status is the call's latest call.status ("" before the first).
	Status call.Status `json:"status,omitempty"`
	// Ended is true once the final status was sent: no event follows, and
	// the engine keeps the state only for its retention time.
	Ended bool `json:"ended"`
	// History is every call.status and amd.event the call sent, in order,
	// exactly as sent. It may overlap with the live events that follow the
	// ack (an event sent while the subscribe was handled): deduplicate by
	// amd.event seq and by status.
	History []HistoryEntry `json:"history"`
	// Dropped counts amd.event entries left out because the call exceeded
	// the engine's per-call history bound (statuses are never dropped);
	// their Seq numbers are missing from History.
	Dropped int `json:"dropped,omitempty"`
	// MetadataOmitted says the statuses' metadata was left out of History
	// to keep the ack within the message size limit.
	MetadataOmitted bool `json:"metadataOmitted,omitempty"`
}

// HistoryEntry is one message of a call's history: exactly one of Status
// and AMD is set. Seq counts the call's messages (statuses and AMD events
// together) from 1.
type HistoryEntry struct {
	Seq    int         `json:"seq"`
	Status *CallStatus `json:"status,omitempty"`
	AMD    *AMDEvent   `json:"amd,omitempty"`
}

// Error answers a command that was refused, or reports a malformed message.
// Field names the offending JSON field when there is one.
type Error struct {
	Envelope
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	CallID  string `json:"callId,omitempty"`
}

// Error codes.
const (
	CodeBadMessage   = "bad_message"   // not JSON, unknown type, wrong version
	CodeInvalidField = "invalid_field" // a field failed validation (Field says which)
	CodeUnknownCall  = "unknown_call"
	CodeAtCapacity   = "at_capacity" // max calls reached
	CodeUnauthorized = "unauthorized"
	CodeInternal     = "internal"
)

// Timings of a call, in milliseconds, set as they become known.
type Timings struct {
	RingDurationInMs    int64 `json:"ringDurationInMs,omitempty"`
	ConnectDurationInMs int64 `json:"connectDurationInMs,omitempty"`
	CallDurationInMs    int64 `json:"callDurationInMs,omitempty"`
}

// CallStatus reports a call's state change. Reason/ReasonCode are set on
// failed ("486 Busy Here" / "Busy Here"); EndReason on completed and failed.
type CallStatus struct {
	Envelope
	CallID     string            `json:"callId"`
	Leg        call.Leg          `json:"leg"`
	Status     call.Status       `json:"status"`
	Reason     string            `json:"reason,omitempty"`
	ReasonCode string            `json:"reasonCode,omitempty"`
	EndReason  call.EndReason    `json:"endReason,omitempty"`
	Timings    Timings           `json:"timings"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	// TimeUnixMs is the wall-clock time of the change.
	TimeUnixMs int64 `json:"timeUnixMs"`
}

// AMDEvent carries one engine event of a call. Seq counts the call's AMD
// events from 1 so a client can check order.
type AMDEvent struct {
	Envelope
	CallID string   `json:"callId"`
	Leg    call.Leg `json:"leg"`
	Seq    int      `json:"seq"`
	engine.Event
	TimeUnixMs int64 `json:"timeUnixMs"`
}

// WebRTCAnswer replies to webrtc.offer.
type WebRTCAnswer struct {
	Envelope
	CallID string `json:"callId"`
	SDP    string `json:"sdp"`
}

// Raw is any message as received, its type read and its body kept for a second decode.
type Raw struct {
	Envelope
	Body json.RawMessage `json:"-"`
}
