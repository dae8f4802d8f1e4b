package gateway

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/amd-engine/amd/call"
	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/amd-engine/amd/gateway/store"
)

// Notification statuses, the Kore.ai Voice Gateway's words.
const (
	NotifyAnswered   = "Answered"
	NotifyInProgress = "Call-In-Progress"
	NotifyCompleted  = "completed"
	NotifyFailed     = "Failed"
)

// Notification is the JSON body POSTed to a call's notifyurl.
type Notification struct {
	// ConversationID is the call's id (the dialout reply's callId).
	ConversationID string `json:"conversationId"`
	SID            string `json:"sid"`
	// Status is Answered, Call-In-Progress, completed or Failed.
	Status string `json:"status"`
	// Reason and ReasonCode: on Failed the SIP final response ("486 Busy
	// Here" / "Busy Here"); on completed the end reason.
	Reason     string `json:"reason"`
	ReasonCode string `json:"reasonCode"`
	// CallConnectTime is when the call was answered (RFC 3339, UTC).
	CallConnectTime string `json:"callConnectTime,omitempty"`
	// RingDurationInMS is from the first ringing to answer (or failure).
	RingDurationInMS int64 `json:"ringDurationInMS"`
	// ConnectDurationInMS is how long the call was connected (0 before the end).
	ConnectDurationInMS int64 `json:"connectDurationInMS"`
	// CallDuration (seconds) and CallDisconnectTime are set on completed.
	CallDuration       *int64 `json:"callDuration,omitempty"`
	CallDisconnectTime string `json:"callDisconnectTime,omitempty"`
	// EndReason is the call's end reason on completed and Failed
	// (Caller-disconnected, Bot-disconnected, KoreVG-disconnected,
	// machineDetected, Failed).
	EndReason string `json:"endReason,omitempty"`
	// MachineDetection is the AMD event (Call-In-Progress) or the final AMD
	// verdict (completed).
	MachineDetection json.RawMessage `json:"machineDetection,omitempty"`
	Target           string          `json:"target"`
	Caller           string          `json:"caller"`
	BotID            string          `json:"botId"`
	Metadata         json.RawMessage `json:"metadata,omitempty"`
	// Timestamp is when the gateway queued the notification.
	Timestamp string `json:"timestamp"`
}

// AMDEventView is the machineDetection object: the engine's event with its
// evidence, its position in the call and its wall-clock time.
type AMDEventView struct {
	engine.Event
	Seq  int      `json:"seq"`
	Leg  call.Leg `json:"leg,omitempty"`
	Time string   `json:"time"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func fromUnixMs(ms int64, fallback time.Time) time.Time {
	if ms <= 0 {
		return fallback.UTC()
	}
	return time.UnixMilli(ms).UTC()
}

// subscribed reports whether c's amdEventsSubscription includes t.
func subscribed(c *store.Call, t engine.EventType) bool {
	return c.Subscription == nil || slices.Contains(c.Subscription, string(t))
}

// note builds one outbox row for c (none when c has no notifyurl).
func note(c *store.Call, n Notification, now time.Time) []store.Notification {
	if c.NotifyURL == "" {
		return nil
	}
	n.ConversationID, n.SID, n.Target, n.Caller, n.BotID, n.Metadata = c.CallID, c.SID, c.Target, c.Caller, c.BotID, c.Metadata
	n.CallConnectTime = rfc3339(c.ConnectAt)
	n.RingDurationInMS = c.RingDurationMs
	n.ConnectDurationInMS = c.ConnectDurationMs
	n.Timestamp = rfc3339(now)
	body, err := json.Marshal(n)
	if err != nil {
		return nil // unreachable: every field marshals
	}
	return []store.Notification{{Status: n.Status, URL: c.NotifyURL, Headers: c.NotifyHeaders, Body: body, CreatedAt: now}}
}

// finalVerdict is the machineDetection of the completed notification: the
// last subscribed decision, or failing that the last subscribed AMD event.
func finalVerdict(c *store.Call) json.RawMessage {
	var last, lastDecision json.RawMessage
	for _, raw := range c.AMD.AMDEvents {
		var ev struct {
			Event engine.EventType `json:"event"`
		}
		if json.Unmarshal(raw, &ev) != nil || !subscribed(c, ev.Event) {
			continue
		}
		last = raw
		if ev.Event.Decision() {
			lastDecision = raw
		}
	}
	if lastDecision != nil {
		return lastDecision
	}
	return last
}

// applyStatus maps one call.status onto the record and returns the
// notifications it causes. trying/ringing only move the record: the
// notification vocabulary starts at Answered.
func applyStatus(c *store.Call, s *control.CallStatus, now time.Time) []store.Notification {
	if store.FinalStatus(c.Status) {
		return nil // the call was already resolved (e.g. after an engine loss)
	}
	if statusRank(s.Status) <= recordRank(c.Status) {
		// Already applied: a replayed history (subscribe after a restart)
		// overlaps with what was stored, or with a live event.
		return nil
	}
	at := fromUnixMs(s.TimeUnixMs, now)
	if s.Timings.RingDurationInMs > 0 {
		c.RingDurationMs = s.Timings.RingDurationInMs
		c.AMD.AMDRingDurationInMs = s.Timings.RingDurationInMs
	}
	if s.Timings.ConnectDurationInMs > 0 {
		c.ConnectDurationMs = s.Timings.ConnectDurationInMs
	}
	if s.Timings.CallDurationInMs > 0 {
		c.CallDurationMs = s.Timings.CallDurationInMs
	}
	switch s.Status {
	case call.StatusTrying:
		if c.Status == store.StatusQueued {
			c.Status = store.StatusTrying
		}
	case call.StatusRinging:
		if c.Status == store.StatusQueued || c.Status == store.StatusTrying {
			c.Status = store.StatusRinging
		}
	case call.StatusAnswered:
		c.Status = store.StatusAnswered
		c.ConnectAt = at
		return note(c, Notification{Status: NotifyAnswered}, now)
	case call.StatusCompleted:
		c.Status = store.StatusCompleted
		if s.EndReason == call.EndMachineDetected {
			c.Status = store.StatusMachineDetected
		}
		c.EndReason = string(s.EndReason)
		c.Reason, c.ReasonCode = s.Reason, s.ReasonCode
		if c.Reason == "" {
			c.Reason, c.ReasonCode = string(s.EndReason), string(s.EndReason)
		}
		c.DisconnectAt = at
		if c.CallDurationMs == 0 && !c.ConnectAt.IsZero() {
			c.CallDurationMs = at.Sub(c.ConnectAt).Milliseconds()
		}
		if c.ConnectDurationMs == 0 {
			c.ConnectDurationMs = c.CallDurationMs
		}
		secs := (c.CallDurationMs + 500) / 1000
		return note(c, Notification{Status: NotifyCompleted, Reason: c.Reason, ReasonCode: c.ReasonCode, EndReason: c.EndReason,
			CallDuration: &secs, CallDisconnectTime: rfc3339(at), MachineDetection: finalVerdict(c)}, now)
	case call.StatusFailed:
		c.Status = store.StatusFailed
		c.EndReason = string(s.EndReason)
		if c.EndReason == "" {
			c.EndReason = string(call.EndFailed)
		}
		c.Reason, c.ReasonCode = s.Reason, s.ReasonCode
		c.DisconnectAt = at
		return note(c, Notification{Status: NotifyFailed, Reason: c.Reason, ReasonCode: c.ReasonCode, EndReason: c.EndReason}, now)
	}
	return nil
}

// applyAMD records one amd.event and returns its notification when the call
// subscribed to it. Events after the call's final status are recorded but
// not notified: a receiver must never see Call-In-Progress after completed.
func applyAMD(c *store.Call, e *control.AMDEvent, now time.Time) []store.Notification {
	if e.Seq <= lastAMDSeq(c) {
		return nil // already recorded: a replay overlapping what was stored
	}
	view := AMDEventView{Event: e.Event, Seq: e.Seq, Leg: e.Leg, Time: rfc3339(fromUnixMs(e.TimeUnixMs, now))}
	raw, err := json.Marshal(view)
	if err != nil {
		return nil
	}
	c.AMD.AMDEvents = append(c.AMD.AMDEvents, raw)
	if e.Event.Type.Decision() {
		c.AMD.AMDReason = string(e.Reason)
		c.AMD.AMDConnectDurationInMs = e.AtMs
	}
	if store.FinalStatus(c.Status) || !subscribed(c, e.Event.Type) {
		return nil
	}
	return note(c, Notification{Status: NotifyInProgress, MachineDetection: raw}, now)
}

// statusRank orders the engine's call statuses; each is sent at most once
// per call, in this order.
func statusRank(s call.Status) int {
	switch s {
	case call.StatusTrying:
		return 1
	case call.StatusRinging:
		return 2
	case call.StatusAnswered:
		return 3
	case call.StatusCompleted, call.StatusFailed:
		return 4
	}
	return 0
}

// recordRank is statusRank of the status a record is in.
func recordRank(s string) int {
	switch s {
	case store.StatusTrying:
		return 1
	case store.StatusRinging:
		return 2
	case store.StatusAnswered:
		return 3
	}
	if store.FinalStatus(s) {
		return 4
	}
	return 0
}

// lastAMDSeq is the seq of the last AMD event recorded for c (0 for none).
// Events arrive in seq order, so it is the dedupe bound for a replay.
func lastAMDSeq(c *store.Call) int {
	n := len(c.AMD.AMDEvents)
	if n == 0 {
		return 0
	}
	var ev struct {
		Seq int `json:"seq"`
	}
	if json.Unmarshal(c.AMD.AMDEvents[n-1], &ev) != nil {
		return 0
	}
	return ev.Seq
}

// Reason words of calls the gateway resolves itself.
const (
	ReasonEngineLost     = "engine connection lost"
	ReasonCodeEngineLost = "Engine-Lost"
)

// applyLost resolves a call the engine can no longer tell us about: an
// amd_error event, then Failed with reason "engine connection lost", even if
// it had been answered: the gateway cannot vouch for how it ended.
func applyLost(c *store.Call, why string, now time.Time) []store.Notification {
	if store.FinalStatus(c.Status) {
		return nil
	}
	ev := &control.AMDEvent{Seq: len(c.AMD.AMDEvents) + 1, TimeUnixMs: now.UnixMilli(),
		Event: engine.Event{Type: engine.EventError, Reason: engine.ReasonMediaError, Message: why}}
	notes := applyAMD(c, ev, now)
	st := &control.CallStatus{CallID: c.CallID, Status: call.StatusFailed, Reason: ReasonEngineLost, ReasonCode: ReasonCodeEngineLost,
		EndReason: call.EndEngineDisconnected, TimeUnixMs: now.UnixMilli()}
	return append(notes, applyStatus(c, st, now)...)
}
