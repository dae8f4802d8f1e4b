package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/amd-engine/amd/engine"
)

// Limits of the command validator. They bound what one message can make the
// engine hold, so a client bug cannot turn into memory growth.
const (
	// MaxMessageBytes is the largest WebSocket message either side accepts.
	MaxMessageBytes = 64 << 10
	maxIDLen        = 128
	maxCallIDLen    = 128
	maxTargetLen    = 256
	maxCallerLen    = 128
	maxTrunkLen     = 64
	maxMetadataKeys = 32
	maxMetadataKey  = 64
	maxMetadataVal  = 1024
	// MaxDialTimeoutMs bounds timeoutInMs (ring timeout) to five minutes.
	MaxDialTimeoutMs = 5 * 60 * 1000
)

// Codec names accepted in Dial.Codecs.
var knownCodecs = map[string]bool{"pcmu": true, "pcma": true, "opus": true}

// DecodeCommand decodes and validates one client-to-server message. It
// returns a pointer to the typed message (*Dial, *CallCommand for hangup and
// amd.stop, *Subscribe, *WebRTCOffer, *Envelope for ping) and the envelope,
// whose ID is set as far as it could be read even when err is not nil, so
// the error reply can still be correlated. Errors are *CommandError with
// code bad_message (not JSON, unknown type, wrong version) or *FieldError.
func DecodeCommand(data []byte) (msg any, env Envelope, err error) {
	if err := json.Unmarshal(data, &env); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			// The message is JSON but "v", "type" or "id" has the wrong type.
			env = Envelope{}
			return nil, env, badMessage(ute.Field, "wrong JSON type %s", ute.Value)
		}
		return nil, Envelope{}, badMessage("", "not a JSON object: %v", err)
	}
	if len(env.ID) > maxIDLen {
		env.ID = env.ID[:maxIDLen]
		return nil, env, badMessage("id", "longer than %d bytes", maxIDLen)
	}
	if env.V != Version {
		return nil, env, badMessage("v", "protocol version %d not supported, want %d", env.V, Version)
	}
	var target interface{ validate() error }
	switch env.Type {
	case TypeDial:
		target = &Dial{}
	case TypeHangup, TypeAMDStop:
		target = &CallCommand{}
	case TypeSubscribe:
		target = &Subscribe{}
	case TypeWebRTCOffer:
		target = &WebRTCOffer{}
	case TypePing:
		e := env
		return &e, env, nil
	case "":
		return nil, env, badMessage("type", "missing")
	default:
		return nil, env, badMessage("type", "unknown message type %q", env.Type)
	}
	if err := json.Unmarshal(data, target); err != nil {
		return nil, env, jsonFieldError(err)
	}
	if err := target.validate(); err != nil {
		return nil, env, err
	}
	return target, env, nil
}

// DecodeServerMessage decodes one server-to-client message into its typed
// form (*Ack, *Error, *Envelope for pong, *CallStatus, *AMDEvent,
// *WebRTCAnswer). Unknown types are an error so a client notices a newer
// server; the client skips them rather than failing the connection.
func DecodeServerMessage(data []byte) (any, Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, env, badMessage("", "not a JSON object: %v", err)
	}
	if env.V != Version {
		return nil, env, badMessage("v", "protocol version %d not supported, want %d", env.V, Version)
	}
	var msg any
	switch env.Type {
	case TypeAck:
		msg = &Ack{}
	case TypeError:
		msg = &Error{}
	case TypePong:
		e := env
		return &e, env, nil
	case TypeCallStatus:
		msg = &CallStatus{}
	case TypeAMDEvent:
		msg = &AMDEvent{}
	case TypeWebRTCAnswer:
		msg = &WebRTCAnswer{}
	default:
		return nil, env, badMessage("type", "unknown message type %q", env.Type)
	}
	if err := json.Unmarshal(data, msg); err != nil {
		return nil, env, jsonFieldError(err)
	}
	return msg, env, nil
}

func badMessage(field, format string, args ...any) *CommandError {
	return &CommandError{Code: CodeBadMessage, Field: field, Message: fmt.Sprintf(format, args...)}
}

// jsonFieldError names the field of a JSON type mismatch ("target": 5).
func jsonFieldError(err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return fieldErr(ute.Field, "wrong JSON type %s, want %s", ute.Value, ute.Type)
	}
	return badMessage("", "%v", err)
}

// validate checks a dial the way the dialout API documents it. Trunk names
// are only checked for shape here; the engine knows which exist.
func (d *Dial) validate() error {
	if err := checkToken("callId", d.CallID, maxCallIDLen, false); err != nil {
		return err
	}
	if err := checkTarget(d.Target); err != nil {
		return err
	}
	if err := checkText("caller", d.Caller, maxCallerLen, true); err != nil {
		return err
	}
	if err := checkToken("trunk", d.Trunk, maxTrunkLen, false); err != nil {
		return err
	}
	if d.TimeoutInMs < 0 || d.TimeoutInMs > MaxDialTimeoutMs {
		return fieldErr("timeoutInMs", "%d: want 0..%d", d.TimeoutInMs, MaxDialTimeoutMs)
	}
	if err := checkMetadata(d.Metadata); err != nil {
		return err
	}
	if err := checkAMD(d.MachineDetection, d.ThresholdWordCount, d.Timers); err != nil {
		return err
	}
	for i, ev := range d.AMDEventsSubscription {
		if !knownEvent(ev) {
			return fieldErr(fmt.Sprintf("amdEventsSubscription[%d]", i), "unknown AMD event %q", ev)
		}
	}
	seen := map[string]bool{}
	for i, c := range d.Codecs {
		lc := strings.ToLower(c)
		if !knownCodecs[lc] {
			return fieldErr(fmt.Sprintf("codecs[%d]", i), "unknown codec %q: want pcmu, pcma or opus", c)
		}
		if seen[lc] {
			return fieldErr(fmt.Sprintf("codecs[%d]", i), "codec %q listed twice", c)
		}
		seen[lc] = true
	}
	return nil
}

func (c *CallCommand) validate() error { return checkToken("callId", c.CallID, maxCallIDLen, true) }

func (s *Subscribe) validate() error {
	if s.Replay && s.CallID == "" {
		return fieldErr("replay", "needs a callId: only one call's history is replayed")
	}
	return checkToken("callId", s.CallID, maxCallIDLen, false)
}

func (o *WebRTCOffer) validate() error {
	if err := checkToken("callId", o.CallID, maxCallIDLen, false); err != nil {
		return err
	}
	if strings.TrimSpace(o.SDP) == "" {
		return fieldErr("sdp", "required")
	}
	if !strings.HasPrefix(strings.TrimSpace(o.SDP), "v=0") {
		return fieldErr("sdp", "not an SDP body (must start with v=0)")
	}
	if err := checkMetadata(o.Metadata); err != nil {
		return err
	}
	return checkAMD(o.MachineDetection, o.ThresholdWordCount, o.Timers)
}

// AMDConfig returns the engine configuration a dial asks for, defaults applied.
func (d *Dial) AMDConfig() engine.Config {
	return engine.Config{Mode: d.MachineDetection, ThresholdWordCount: d.ThresholdWordCount, Timers: d.Timers}.WithDefaults()
}

// checkAMD validates the AMD settings with the engine's own rules, then
// finds which field failed so the reply can name it: engine.Config.Validate
// reports the first failure as text only.
func checkAMD(mode engine.Mode, words int, timers engine.Timers) error {
	cfg := engine.Config{Mode: mode, ThresholdWordCount: words, Timers: timers}
	err := cfg.Validate()
	if err == nil {
		if words < 0 {
			return fieldErr("thresholdWordCount", "%d: must not be negative", words)
		}
		return nil
	}
	probes := []struct {
		field string
		cfg   engine.Config
	}{
		{"machineDetection", engine.Config{Mode: mode}},
		{"thresholdWordCount", engine.Config{ThresholdWordCount: words}},
		{"timers.noSpeechTimeoutMs", engine.Config{Timers: engine.Timers{NoSpeechTimeoutMs: timers.NoSpeechTimeoutMs}}},
		{"timers.decisionTimeoutMs", engine.Config{Timers: engine.Timers{DecisionTimeoutMs: timers.DecisionTimeoutMs}}},
		{"timers.toneTimeoutMs", engine.Config{Timers: engine.Timers{ToneTimeoutMs: timers.ToneTimeoutMs}}},
		{"timers.greetingCompletionTimeoutMs", engine.Config{Timers: engine.Timers{GreetingCompletionTimeoutMs: timers.GreetingCompletionTimeoutMs}}},
	}
	for _, p := range probes {
		if perr := p.cfg.Validate(); perr != nil {
			return &FieldError{Field: p.field, Message: perr.Error()}
		}
	}
	return &FieldError{Field: "machineDetection", Message: err.Error()}
}

func knownEvent(name string) bool {
	for _, t := range engine.EventTypes {
		if string(t) == name {
			return true
		}
	}
	return false
}

// checkTarget accepts a SIP/SIPS/tel URI or a dialable number (digits, an
// optional leading +, * and #), which the engine sends through a trunk.
func checkTarget(t string) error {
	switch {
	case t == "":
		return fieldErr("target", "required")
	case len(t) > maxTargetLen:
		return fieldErr("target", "longer than %d bytes", maxTargetLen)
	case !printable(t):
		return fieldErr("target", "contains spaces or control characters")
	}
	lower := strings.ToLower(t)
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if strings.HasPrefix(lower, scheme) {
			if len(t) == len(scheme) {
				return fieldErr("target", "%q has nothing after the scheme", t)
			}
			return nil
		}
	}
	num := strings.TrimPrefix(t, "+")
	if num == "" {
		return fieldErr("target", "%q is not a phone number or a sip:/tel: URI", t)
	}
	for _, r := range num {
		if !(r >= '0' && r <= '9' || r == '*' || r == '#') {
			return fieldErr("target", "%q is not a phone number or a sip:/tel: URI", t)
		}
	}
	return nil
}

// checkToken accepts identifiers: letters, digits and ._-:@+ only, because
// they end up in SIP headers, log fields and metric-free maps.
func checkToken(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return fieldErr(field, "required")
		}
		return nil
	}
	if len(v) > max {
		return fieldErr(field, "longer than %d bytes", max)
	}
	for _, r := range v {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:@+", r))) {
			return fieldErr(field, "%q: only letters, digits and ._-:@+ allowed", v)
		}
	}
	return nil
}

// checkText accepts printable text without spaces (a caller ID goes into a
// From header).
func checkText(field, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "required")
	case len(v) > max:
		return fieldErr(field, "longer than %d bytes", max)
	case !printable(v):
		return fieldErr(field, "contains spaces or control characters")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' || r == '"' {
			return false
		}
	}
	return true
}

func checkMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return fieldErr("metadata", "%d keys: at most %d", len(m), maxMetadataKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > maxMetadataKey || !utf8.ValidString(k) {
			return fieldErr("metadata", "key %q: want 1..%d bytes of UTF-8", k, maxMetadataKey)
		}
		if len(v) > maxMetadataVal || !utf8.ValidString(v) {
			return fieldErr("metadata."+k, "want at most %d bytes of UTF-8", maxMetadataVal)
		}
	}
	return nil
}

// marshal encodes a server message; every server message is a plain struct
// so an error here is a programming error, reported as such.
func marshal(msg any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return nil, fmt.Errorf("control: encode %T: %w", msg, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
