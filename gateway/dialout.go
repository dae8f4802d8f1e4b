package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
)

// Limits of the dialout body.
const (
	// MaxDialoutBody bounds the request body; a real one is well under 4 KiB.
	MaxDialoutBody = 64 << 10
	// MaxMetadataBytes bounds the metadata object (it is echoed in every notification).
	MaxMetadataBytes    = 16 << 10
	maxNotifyHeaders    = 32
	maxHeaderValueBytes = 1024
	maxTargetBytes      = 256
	maxCallerBytes      = 128
	// MaxTimeoutInMs bounds how long a call may ring (the engine's own bound).
	MaxTimeoutInMs = control.MaxDialTimeoutMs
	// Metadata is passed to the engine as flat strings, within its limits.
	maxMetadataKeys     = 32
	maxMetadataKeyBytes = 64
	maxMetadataValBytes = 1024
	maxTrunkBytes       = 64
	// DefaultTimeoutInMs is how long a call rings when timeoutInMs is absent.
	DefaultTimeoutInMs = 60000
)

// ErrInvalidRequest is wrapped by every dialout validation error.
var ErrInvalidRequest = errors.New("invalid request")

// FieldError names the dialout field that is wrong. Field is the JSON name
// (canonical spelling; "timers.decisionTimeoutMs" for nested ones, "" for
// the body as a whole).
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap makes every FieldError an ErrInvalidRequest.
func (e *FieldError) Unwrap() error { return ErrInvalidRequest }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// DialoutRequest is a validated dialout body.
type DialoutRequest struct {
	Target        string            `json:"target"`
	Caller        string            `json:"caller"`
	NotifyURL     string            `json:"notifyurl,omitempty"`
	NotifyHeaders map[string]string `json:"notifyHeaders,omitempty"`
	TimeoutInMs   int               `json:"timeoutInMs"`
	Trunk         string            `json:"trunk,omitempty"`
	// Metadata is the request's metadata object, verbatim.
	Metadata           json.RawMessage `json:"metadata,omitempty"`
	Timers             engine.Timers   `json:"timers"`
	MachineDetection   engine.Mode     `json:"machineDetection"`
	ThresholdWordCount int             `json:"thresholdWordCount"`
	// AMDEventsSubscription: nil = every AMD event, empty = none.
	AMDEventsSubscription []string        `json:"amdEventsSubscription"`
	Bot                   json.RawMessage `json:"bot,omitempty"`
}

// Subscribed reports whether the request wants notifications for t.
func (r *DialoutRequest) Subscribed(t engine.EventType) bool {
	return r.AMDEventsSubscription == nil || slices.Contains(r.AMDEventsSubscription, string(t))
}

// dialoutFields maps the lower-cased spelling of every accepted key to its
// canonical name. Keys are matched without regard to case, which is how
// both "notifyurl" and "notifyUrl" (and "machinedetection") are accepted.
var dialoutFields = map[string]string{
	"target":                "target",
	"caller":                "caller",
	"notifyurl":             "notifyurl",
	"notifyheaders":         "notifyHeaders",
	"timeoutinms":           "timeoutInMs",
	"trunk":                 "trunk",
	"metadata":              "metadata",
	"timers":                "timers",
	"machinedetection":      "machineDetection",
	"thresholdwordcount":    "thresholdWordCount",
	"amdeventssubscription": "amdEventsSubscription",
	"bot":                   "bot",
}

var timerFields = map[string]string{
	"nospeechtimeoutms":           "noSpeechTimeoutMs",
	"decisiontimeoutms":           "decisionTimeoutMs",
	"tonetimeoutms":               "toneTimeoutMs",
	"greetingcompletiontimeoutms": "greetingCompletionTimeoutMs",
}

// reservedNotifyHeaders are set by the notifier itself; letting a caller
// set them would forge the signature or break the framing.
var reservedNotifyHeaders = []string{"content-type", "content-length", "host", "transfer-encoding", "connection",
	"savg-signature", "idempotency-key", "x-amd-notification-seq", "user-agent"}

// DecodeDialout reads and validates a dialout body. Every error is a
// *FieldError (wrapping ErrInvalidRequest) naming the offending field.
// Unknown fields are refused, so a misspelt option is an error rather than
// silently ignored.
func DecodeDialout(r io.Reader) (*DialoutRequest, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxDialoutBody+1))
	if err != nil {
		return nil, fieldErr("", "read body: %v", err)
	}
	if len(raw) > MaxDialoutBody {
		return nil, fieldErr("", "body larger than %d bytes", MaxDialoutBody)
	}
	obj, err := decodeObject(raw, "")
	if err != nil {
		return nil, err
	}
	req := &DialoutRequest{TimeoutInMs: DefaultTimeoutInMs}
	seen := map[string]string{}
	for _, kv := range obj {
		name, ok := dialoutFields[strings.ToLower(kv.key)]
		if !ok {
			return nil, fieldErr(kv.key, "unknown field")
		}
		if prev, dup := seen[name]; dup {
			return nil, fieldErr(name, "given twice (%q and %q)", prev, kv.key)
		}
		seen[name] = kv.key
		if err := req.set(name, kv.val); err != nil {
			return nil, err
		}
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return req, nil
}

type keyVal struct {
	key string
	val json.RawMessage
}

// decodeObject decodes one JSON object keeping its keys in order (so the
// first error reported is the first wrong field) and refusing trailing data.
func decodeObject(raw []byte, field string) ([]keyVal, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fieldErr(field, "malformed JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldErr(field, "want a JSON object")
	}
	var out []keyVal
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fieldErr(field, "malformed JSON: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fieldErr(join(field, key), "malformed JSON: %v", err)
		}
		out = append(out, keyVal{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fieldErr(field, "malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr(field, "trailing data after the JSON object")
	}
	return out, nil
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// jsonType names a JSON value's type for error messages.
func jsonType(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func decodeString(field string, v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fieldErr(field, "want a string, got %s", jsonType(v))
	}
	return s, nil
}

// decodeInt accepts a JSON integer, or a string of digits (some dialers
// quote every number).
func decodeInt(field string, v json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, fieldErr(field, "want an integer, got %s", jsonType(v))
	}
	i, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return 0, fieldErr(field, "want an integer, got %s", string(v))
	}
	return int(i), nil
}

func (r *DialoutRequest) set(name string, v json.RawMessage) error {
	var err error
	switch name {
	case "target":
		r.Target, err = decodeString(name, v)
	case "caller":
		r.Caller, err = decodeString(name, v)
	case "notifyurl":
		if !isNull(v) {
			r.NotifyURL, err = decodeString(name, v)
		}
	case "trunk":
		if !isNull(v) {
			r.Trunk, err = decodeString(name, v)
		}
	case "timeoutInMs":
		if !isNull(v) {
			r.TimeoutInMs, err = decodeInt(name, v)
		}
	case "thresholdWordCount":
		if !isNull(v) {
			r.ThresholdWordCount, err = decodeInt(name, v)
		}
	case "notifyHeaders":
		if isNull(v) {
			return nil
		}
		kvs, derr := decodeObject(v, name)
		if derr != nil {
			return derr
		}
		r.NotifyHeaders = make(map[string]string, len(kvs))
		for _, kv := range kvs {
			s, err := decodeString(join(name, kv.key), kv.val)
			if err != nil {
				return err
			}
			r.NotifyHeaders[kv.key] = s
		}
	case "metadata":
		if isNull(v) {
			return nil
		}
		if jsonType(v) != "object" {
			return fieldErr(name, "want an object, got %s", jsonType(v))
		}
		if len(v) > MaxMetadataBytes {
			return fieldErr(name, "larger than %d bytes", MaxMetadataBytes)
		}
		kvs, derr := decodeObject(v, name)
		if derr != nil {
			return derr
		}
		if len(kvs) > maxMetadataKeys {
			return fieldErr(name, "more than %d keys", maxMetadataKeys)
		}
		for _, kv := range kvs {
			if kv.key == "" || len(kv.key) > maxMetadataKeyBytes {
				return fieldErr(join(name, kv.key), "key must be 1..%d bytes", maxMetadataKeyBytes)
			}
			if len(flatValue(kv.val)) > maxMetadataValBytes {
				return fieldErr(join(name, kv.key), "value longer than %d bytes", maxMetadataValBytes)
			}
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return fieldErr(name, "malformed JSON: %v", err)
		}
		r.Metadata = buf.Bytes()
	case "bot":
		if isNull(v) {
			return nil
		}
		if t := jsonType(v); t != "object" && t != "string" {
			return fieldErr(name, "want an object or a string, got %s", t)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return fieldErr(name, "malformed JSON: %v", err)
		}
		r.Bot = buf.Bytes()
	case "timers":
		if isNull(v) {
			return nil
		}
		kvs, derr := decodeObject(v, name)
		if derr != nil {
			return derr
		}
		for _, kv := range kvs {
			tn, ok := timerFields[strings.ToLower(kv.key)]
			if !ok {
				return fieldErr(join(name, kv.key), "unknown field")
			}
			f := join(name, tn)
			n, err := decodeInt(f, kv.val)
			if err != nil {
				return err
			}
			switch tn {
			case "noSpeechTimeoutMs":
				r.Timers.NoSpeechTimeoutMs = n
			case "decisionTimeoutMs":
				r.Timers.DecisionTimeoutMs = n
			case "toneTimeoutMs":
				r.Timers.ToneTimeoutMs = n
			case "greetingCompletionTimeoutMs":
				r.Timers.GreetingCompletionTimeoutMs = n
			}
		}
	case "machineDetection":
		switch jsonType(v) {
		case "null":
		case "boolean":
			// true/false as older dialers send it: detect or nothing.
			if string(bytes.TrimSpace(v)) == "true" {
				r.MachineDetection = engine.ModeDetect
			} else {
				r.MachineDetection = engine.ModeDisabled
			}
		case "string":
			s, _ := decodeString(name, v)
			r.MachineDetection = engine.Mode(strings.ToLower(s))
		default:
			return fieldErr(name, "want \"detect\", \"disconnect\", \"disabled\" or a boolean, got %s", jsonType(v))
		}
	case "amdEventsSubscription":
		if isNull(v) {
			return nil
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil {
			return fieldErr(name, "want an array of AMD event names, got %s", jsonType(v))
		}
		r.AMDEventsSubscription = make([]string, 0, len(list))
		for _, e := range list {
			if !slices.Contains(engine.EventTypes, engine.EventType(e)) {
				return fieldErr(name, "unknown AMD event %q", e)
			}
			if !slices.Contains(r.AMDEventsSubscription, e) {
				r.AMDEventsSubscription = append(r.AMDEventsSubscription, e)
			}
		}
	}
	return err
}

var (
	// telRe: a tel: URI with a global (+) or local number; visual separators allowed.
	telRe = regexp.MustCompile(`^tel:\+?[0-9*#][0-9*#().\-]*(;[A-Za-z0-9\-]+(=[^;\s]*)?)*$`)
	// sipRe: sip:/sips: with an optional user part and a host.
	sipRe = regexp.MustCompile(`^sips?:([^@\s<>"]+@)?[A-Za-z0-9.\-\[\]:]+(;[^\s<>"]*)?$`)
	// headerNameRe: an RFC 9110 token.
	headerNameRe = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")
)

func (r *DialoutRequest) validate() error {
	switch {
	case r.Target == "":
		return fieldErr("target", "required (tel: or sip: URI)")
	case len(r.Target) > maxTargetBytes:
		return fieldErr("target", "longer than %d bytes", maxTargetBytes)
	case !telRe.MatchString(r.Target) && !sipRe.MatchString(r.Target):
		return fieldErr("target", "%q is not a tel: or sip: URI", r.Target)
	}
	switch {
	case strings.TrimSpace(r.Caller) == "":
		return fieldErr("caller", "required")
	case len(r.Caller) > maxCallerBytes:
		return fieldErr("caller", "longer than %d bytes", maxCallerBytes)
	case strings.ContainsAny(r.Caller, "\r\n\x00<>\""):
		return fieldErr("caller", "contains characters not allowed in a SIP header")
	}
	if r.NotifyURL != "" {
		u, err := url.Parse(r.NotifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("notifyurl", "%q is not an absolute http(s) URL", r.NotifyURL)
		}
	}
	if len(r.NotifyHeaders) > maxNotifyHeaders {
		return fieldErr("notifyHeaders", "more than %d headers", maxNotifyHeaders)
	}
	for k, v := range r.NotifyHeaders {
		f := "notifyHeaders." + k
		switch {
		case !headerNameRe.MatchString(k):
			return fieldErr(f, "not a valid header name")
		case slices.Contains(reservedNotifyHeaders, strings.ToLower(k)):
			return fieldErr(f, "set by the gateway itself")
		case len(v) > maxHeaderValueBytes:
			return fieldErr(f, "value longer than %d bytes", maxHeaderValueBytes)
		case strings.ContainsAny(v, "\r\n\x00"):
			return fieldErr(f, "value contains a line break or NUL")
		}
	}
	if r.TimeoutInMs < 0 || r.TimeoutInMs > MaxTimeoutInMs {
		return fieldErr("timeoutInMs", "%d: want 0..%d", r.TimeoutInMs, MaxTimeoutInMs)
	}
	if r.TimeoutInMs == 0 {
		r.TimeoutInMs = DefaultTimeoutInMs
	}
	if len(r.Trunk) > maxTrunkBytes {
		return fieldErr("trunk", "longer than %d bytes", maxTrunkBytes)
	}
	cfg := engine.Config{Mode: r.MachineDetection, ThresholdWordCount: r.ThresholdWordCount, Timers: r.Timers}
	if err := cfg.Validate(); err != nil {
		// engine's messages start with the field name; keep it as the field.
		msg := strings.TrimPrefix(err.Error(), engine.ErrInvalidConfig.Error()+": ")
		field, _, _ := strings.Cut(msg, " ")
		return &FieldError{Field: field, Message: msg}
	}
	cfg = cfg.WithDefaults()
	r.MachineDetection, r.ThresholdWordCount, r.Timers = cfg.Mode, cfg.ThresholdWordCount, cfg.Timers
	return nil
}

// flatValue is how one metadata value travels to the engine, whose metadata
// is flat strings: a string as itself, anything else as compact JSON.
func flatValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

// FlatMetadata returns the metadata as the engine's flat string map.
func (r *DialoutRequest) FlatMetadata() map[string]string {
	if len(r.Metadata) == 0 {
		return nil
	}
	kvs, err := decodeObject(r.Metadata, "metadata")
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.key] = flatValue(kv.val)
	}
	return out
}
