// Package store is amdgw's durable memory: call records (what the dialout API
// was asked, what the engine reported, the AMD outcome) and the notification
// outbox. Everything a notification needs is written here before it is sent,
// so a crash of the gateway at any moment loses nothing: on restart the
// outbox resumes where it stopped.
//
// The Store interface is small on purpose; the default implementation is
// embedded SQLite (modernc.org/sqlite, pure Go) in WAL mode.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound: no call with that id.
	ErrNotFound = errors.New("not found")
	// ErrExists: a call with that id already exists.
	ErrExists = errors.New("already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

// Interaction statuses. They are the Kore.ai Voice Gateway's words, plus
// Queued/Trying/Ringing for calls that have not been answered yet, and
// MachineDetected for calls the engine ended because machineDetection=disconnect
// found a machine.
const (
	StatusQueued          = "Queued"
	StatusTrying          = "Trying"
	StatusRinging         = "Ringing"
	StatusAnswered        = "Answered"
	StatusCompleted       = "completed"
	StatusFailed          = "Failed"
	StatusMachineDetected = "machineDetected"
)

// FinalStatus reports whether no status follows s.
func FinalStatus(s string) bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusMachineDetected
}

// AMDInfo is the AMD outcome kept with a call record.
type AMDInfo struct {
	// AMDEvents are every AMD event the engine reported, in order, as JSON
	// objects (the engine's event with its evidence).
	AMDEvents []json.RawMessage `json:"amdEvents"`
	// AMDReason is the reason of the decision event (e.g. "long_greeting").
	AMDReason              string `json:"amdReason,omitempty"`
	AMDRingDurationInMs    int64  `json:"amdRingDurationInMs,omitempty"`
	AMDConnectDurationInMs int64  `json:"amdConnectDurationInMs,omitempty"`
}

// Call is one call record.
type Call struct {
	CallID string `json:"callId"`
	SID    string `json:"sid"`
	BotID  string `json:"botId"`
	// AppID is the JWT's appId claim of the request that created the call.
	AppID  string `json:"appId,omitempty"`
	Target string `json:"target"`
	Caller string `json:"caller"`
	Trunk  string `json:"trunk,omitempty"`
	// NotifyURL and NotifyHeaders are where and how notifications go.
	NotifyURL     string            `json:"notifyUrl,omitempty"`
	NotifyHeaders map[string]string `json:"notifyHeaders,omitempty"`
	// Subscription is amdEventsSubscription: nil means every AMD event, an
	// empty non-nil slice means none.
	Subscription []string `json:"amdEventsSubscription"`
	// MachineDetection is the mode asked for.
	MachineDetection string `json:"machineDetection,omitempty"`
	// Metadata is the request's metadata object, verbatim.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Request is the dialout request body as accepted (after validation).
	Request json.RawMessage `json:"-"`
	// EngineURL is the control channel URL of the engine that runs the call.
	EngineURL string `json:"engine,omitempty"`

	Status     string `json:"status"`
	EndReason  string `json:"endReason,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ReasonCode string `json:"reasonCode,omitempty"`

	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	ConnectAt    time.Time `json:"callConnectTime,omitzero"`
	DisconnectAt time.Time `json:"callDisconnectTime,omitzero"`

	RingDurationMs    int64 `json:"ringDurationInMS,omitempty"`
	ConnectDurationMs int64 `json:"connectDurationInMS,omitempty"`
	CallDurationMs    int64 `json:"callDurationInMS,omitempty"`

	AMD AMDInfo `json:"amdInfo"`

	// NotifySeq is the sequence number of the call's last queued notification.
	NotifySeq int `json:"-"`
}

// Delivery states of an outbox row.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Notification is one outbox row: a notification to POST, stored before it
// is sent.
type Notification struct {
	ID     int64  `json:"id"`
	CallID string `json:"callId"`
	// Seq orders a call's notifications from 1.
	Seq int `json:"seq"`
	// Key is the idempotency key, stable across retries and restarts.
	Key     string            `json:"idempotencyKey"`
	Status  string            `json:"status"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body"`

	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	NextAttempt  time.Time `json:"nextAttempt"`
	CreatedAt    time.Time `json:"createdAt"`
	DeliveredAt  time.Time `json:"deliveredAt,omitzero"`
	LastError    string    `json:"lastError,omitempty"`
	LastHTTPCode int       `json:"lastHttpCode,omitempty"`
}

// Filter selects calls for the interactions API. Zero fields select all.
type Filter struct {
	BotID  string
	Status []string
	From   time.Time // created at or after
	To     time.Time // created before
	// Cursor continues a previous page (opaque, from ListCalls).
	Cursor string
	Limit  int
}

// Outcome of one delivery attempt.
type Outcome struct {
	State    string // DeliveryDelivered, DeliveryFailed or DeliveryPending (retry)
	At       time.Time
	Next     time.Time // next attempt when State is pending
	Err      string
	HTTPCode int
}

// CallUpdate is one change of an UpdateCalls batch.
type CallUpdate struct {
	CallID string
	Fn     func(c *Call) ([]Notification, error)
}

// Store is what the gateway needs from its persistence.
type Store interface {
	// CreateCall inserts a new record; ErrExists if the id is taken.
	CreateCall(ctx context.Context, c *Call) error
	// GetCall returns a record or ErrNotFound.
	GetCall(ctx context.Context, callID string) (*Call, error)
	// UpdateCall reads a record, lets fn change it and return notifications
	// to queue, and writes both in one transaction. The notifications get
	// their Seq and Key assigned here. fn returning an error aborts.
	UpdateCall(ctx context.Context, callID string, fn func(c *Call) ([]Notification, error)) error
	// UpdateCalls applies a batch of updates, in order, in one transaction.
	// It returns one error per update (ErrNotFound or fn's error: that
	// update alone is skipped) or an error that failed the whole batch.
	UpdateCalls(ctx context.Context, updates []CallUpdate) ([]error, error)
	// ListCalls returns one page of calls, newest first, and the cursor of
	// the next page ("" at the end).
	ListCalls(ctx context.Context, f Filter) ([]Call, string, error)
	// OpenCalls returns every call whose status is not final.
	OpenCalls(ctx context.Context) ([]Call, error)

	// DueNotifications returns, for each call, the oldest pending
	// notification if it is due at now, skipping calls in busy; at most limit.
	DueNotifications(ctx context.Context, now time.Time, busy map[string]bool, limit int) ([]Notification, error)
	// NextDue returns when the earliest queue head of a call not in busy is due.
	NextDue(ctx context.Context, busy map[string]bool) (time.Time, bool, error)
	// RecordAttempt stores the outcome of a delivery attempt.
	RecordAttempt(ctx context.Context, id int64, o Outcome) error
	// Prune deletes calls created before t that are final and whose
	// notifications are all final, with those notifications; it returns
	// how many calls it deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
	// PendingCount returns how many notifications wait for delivery.
	PendingCount(ctx context.Context) (int, error)
	// Notifications returns a call's notifications in order.
	Notifications(ctx context.Context, callID string) ([]Notification, error)

	Close() error
}
