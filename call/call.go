// Package call is the vocabulary of one call's life shared by the daemon, the
// control protocol, the gateway, logs and metrics: call statuses, the single
// enumerated set of end reasons, and the call legs.
package call

// Status is a call's state as reported on the control channel.
type Status string

// Call statuses, in the order a successful call goes through them.
const (
	StatusTrying    Status = "trying"
	StatusRinging   Status = "ringing"
	StatusAnswered  Status = "answered"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
)

// Final reports whether no status follows s.
func (s Status) Final() bool { return s == StatusCompleted || s == StatusFailed }

// EndReason says why a call ended. It is the one enumerated set used by logs,
// metrics labels, control events and gateway notifications.
type EndReason string

// End reasons. The hyphenated values are the Kore.ai Voice Gateway's own words,
// kept so that applications written against it keep working.
const (
	// EndCallerDisconnected: the callee (the far end) sent BYE.
	EndCallerDisconnected EndReason = "Caller-disconnected"
	// EndBotDisconnected: the application asked for the hangup.
	EndBotDisconnected EndReason = "Bot-disconnected"
	// EndEngineDisconnected: the daemon hung up on its own because of an error
	// (AMD error, media timeout, shutdown).
	EndEngineDisconnected EndReason = "KoreVG-disconnected"
	// EndMachineDetected: machineDetection=disconnect and a machine was found.
	EndMachineDetected EndReason = "machineDetected"
	// EndFailed: the call was never answered (SIP final failure, timeout, no route).
	EndFailed EndReason = "Failed"
)

// EndReasons lists every end reason, for metrics that pre-create their labels.
var EndReasons = []EndReason{EndCallerDisconnected, EndBotDisconnected, EndEngineDisconnected, EndMachineDetected, EndFailed}

// Leg says how the callee's audio reaches the engine.
type Leg string

// Call legs.
const (
	LegSIP    Leg = "sip"
	LegWebRTC Leg = "webrtc"
)
