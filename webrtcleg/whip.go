package webrtcleg

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amd-engine/amd/control"
	"github.com/amd-engine/amd/engine"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
)

// WHIPPath is where the WHIP endpoint is mounted; sessions live under it
// (WHIPPath + "/" + callId).
const WHIPPath = "/v1/whip"

// whipAnswerTimeout bounds one POST: answering is local work (no STUN, one
// UDP mux), so seconds mean something is stuck.
const whipAnswerTimeout = 10 * time.Second

// Engine runs the calls the WHIP handler accepts: the daemon, which answers
// the offer through a Host and starts the call's owner goroutine.
type Engine interface {
	// WebRTCOffer answers an offer the handler already validated with the
	// control protocol's rules (ParseWHIPRequest) and starts the call.
	WebRTCOffer(ctx context.Context, o control.WebRTCOffer) (control.WebRTCAnswer, error)
	// EndSession ends a WebRTC call (WHIP DELETE). An ID that is not a live
	// WebRTC call — unknown, ended, or a SIP call that WHIP must not touch —
	// wraps control.ErrUnknownCall.
	EndSession(callID string) error
}

// WHIPOption configures a WHIPHandler.
type WHIPOption func(*WHIPHandler)

// WithWHIPToken requires "Authorization: Bearer <token>" (empty: no check).
func WithWHIPToken(token string) WHIPOption { return func(h *WHIPHandler) { h.token = token } }

// WithWHIPLogger sets the handler's logger.
func WithWHIPLogger(l zerolog.Logger) WHIPOption { return func(h *WHIPHandler) { h.log = l } }

// WithAllowedOrigins restricts CORS to these origins; the default allows
// any origin ("*"): the bearer token, not the origin, is the access control,
// and the example page is opened from wherever the user keeps it.
func WithAllowedOrigins(origins ...string) WHIPOption {
	return func(h *WHIPHandler) {
		h.origins = map[string]bool{}
		for _, o := range origins {
			h.origins[o] = true
		}
	}
}

// WHIPHandler is the WHIP (RFC 9725) endpoint: POST WHIPPath with an SDP
// offer creates a session (201, SDP answer, Location), DELETE on the
// Location ends it. AMD options ride in the query string.
type WHIPHandler struct {
	eng     Engine
	token   string
	origins map[string]bool // nil: any
	log     zerolog.Logger
}

// NewWHIPHandler returns the handler; mount it at WHIPPath and WHIPPath+"/".
func NewWHIPHandler(e Engine, opts ...WHIPOption) *WHIPHandler {
	h := &WHIPHandler{eng: e, log: zerolog.Nop()}
	for _, o := range opts {
		o(h)
	}
	return h
}

// whipError is the JSON body of every refusal; field names the query
// parameter (or "sdp") at fault, like the control channel's invalid_field.
type whipError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (h *WHIPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors(w, r)
	id, isSession := strings.CutPrefix(r.URL.Path, WHIPPath+"/")
	switch {
	case r.URL.Path != WHIPPath && !isSession, isSession && id == "":
		h.refuse(w, http.StatusNotFound, "not_found", "", "no such WHIP resource")
	case r.Method == http.MethodOptions:
		// CORS preflight (and RFC 9725's optional OPTIONS): headers only.
		w.WriteHeader(http.StatusNoContent)
	case !h.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="amdd"`)
		h.refuse(w, http.StatusUnauthorized, control.CodeUnauthorized, "", "missing or wrong bearer token")
	case !isSession && r.Method == http.MethodPost:
		h.create(w, r)
	case isSession && r.Method == http.MethodDelete:
		h.delete(w, id)
	case isSession && r.Method == http.MethodPatch:
		// RFC 9725 §4.3.1: a server without trickle ICE or ICE restarts
		// answers PATCH with 405. Our answer carries every candidate.
		w.Header().Set("Allow", "DELETE, OPTIONS")
		h.refuse(w, http.StatusMethodNotAllowed, "unsupported", "", "trickle ICE and ICE restarts are not supported; the answer holds all candidates")
	case isSession:
		w.Header().Set("Allow", "DELETE, PATCH, OPTIONS")
		h.refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "", r.Method+" is not allowed on a WHIP session")
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		h.refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "", r.Method+" is not allowed on the WHIP endpoint")
	}
}

func (h *WHIPHandler) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	hd := w.Header()
	switch {
	case h.origins == nil:
		hd.Set("Access-Control-Allow-Origin", "*")
	case h.origins[origin]:
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Add("Vary", "Origin")
	default:
		return
	}
	hd.Set("Access-Control-Allow-Methods", "POST, DELETE, PATCH, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	// The page needs Location to DELETE its session later.
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Link")
	hd.Set("Access-Control-Max-Age", "600")
}

func (h *WHIPHandler) authorized(r *http.Request) bool {
	if h.token == "" {
		return true
	}
	a := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(a) < len(prefix) || !strings.EqualFold(a[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(a[len(prefix):])), []byte(h.token)) == 1
}

func (h *WHIPHandler) create(w http.ResponseWriter, r *http.Request) {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/sdp" {
		h.refuse(w, http.StatusUnsupportedMediaType, control.CodeBadMessage, "Content-Type", "want Content-Type: application/sdp")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOfferBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, http.StatusRequestEntityTooLarge, control.CodeBadMessage, "sdp", fmt.Sprintf("offer larger than %d bytes", MaxOfferBytes))
			return
		}
		h.refuse(w, http.StatusBadRequest, control.CodeBadMessage, "sdp", "reading the offer: "+err.Error())
		return
	}
	offer, err := ParseWHIPRequest(r.URL.RawQuery, string(body))
	if err != nil {
		h.refuseErr(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), whipAnswerTimeout)
	defer cancel()
	ans, err := h.eng.WebRTCOffer(ctx, offer)
	if err != nil {
		h.refuseErr(w, err)
		return
	}
	loc := WHIPPath + "/" + url.PathEscape(ans.CallID)
	h.log.Info().Str("callId", ans.CallID).Str("remote", r.RemoteAddr).Msg("whip: session created")
	hd := w.Header()
	hd.Set("Content-Type", "application/sdp")
	hd.Set("Location", loc)
	hd.Set("ETag", `"`+ans.CallID+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ans.SDP)
}

func (h *WHIPHandler) delete(w http.ResponseWriter, id string) {
	if err := h.eng.EndSession(id); err != nil {
		h.refuseErr(w, err)
		return
	}
	h.log.Info().Str("callId", id).Msg("whip: session deleted")
	w.WriteHeader(http.StatusOK)
}

// refuseErr maps an intake or engine error onto a status: a problem with
// the request is 4xx naming the field, capacity and shutdown are 503, the
// rest 500 (our bug, not the client's).
func (h *WHIPHandler) refuseErr(w http.ResponseWriter, err error) {
	var fe *control.FieldError
	var ce *control.CommandError
	switch {
	case errors.As(err, &fe):
		h.refuse(w, http.StatusBadRequest, control.CodeInvalidField, fe.Field, fe.Message)
	case errors.Is(err, ErrBadOffer), errors.Is(err, ErrNoAudio), errors.Is(err, ErrNoOpus):
		h.refuse(w, http.StatusBadRequest, control.CodeInvalidField, "sdp", err.Error())
	case errors.Is(err, control.ErrUnknownCall):
		h.refuse(w, http.StatusNotFound, control.CodeUnknownCall, "", err.Error())
	case errors.Is(err, control.ErrAtCapacity):
		w.Header().Set("Retry-After", "1")
		h.refuse(w, http.StatusServiceUnavailable, control.CodeAtCapacity, "", err.Error())
	case errors.As(err, &ce) && ce.Code == control.CodeInvalidField:
		h.refuse(w, http.StatusBadRequest, ce.Code, ce.Field, ce.Message)
	case errors.Is(err, ErrClosed), errors.Is(err, context.DeadlineExceeded):
		h.refuse(w, http.StatusServiceUnavailable, control.CodeInternal, "", err.Error())
	default:
		h.log.Warn().Err(err).Msg("whip: refused")
		h.refuse(w, http.StatusInternalServerError, control.CodeInternal, "", err.Error())
	}
}

func (h *WHIPHandler) refuse(w http.ResponseWriter, status int, code, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(whipError{Code: code, Field: field, Message: msg})
}

// Query parameters of POST WHIPPath besides metadata.*.
var whipIntParams = map[string]func(o *control.WebRTCOffer) *int{
	"thresholdWordCount":          func(o *control.WebRTCOffer) *int { return &o.ThresholdWordCount },
	"noSpeechTimeoutMs":           func(o *control.WebRTCOffer) *int { return &o.Timers.NoSpeechTimeoutMs },
	"decisionTimeoutMs":           func(o *control.WebRTCOffer) *int { return &o.Timers.DecisionTimeoutMs },
	"toneTimeoutMs":               func(o *control.WebRTCOffer) *int { return &o.Timers.ToneTimeoutMs },
	"greetingCompletionTimeoutMs": func(o *control.WebRTCOffer) *int { return &o.Timers.GreetingCompletionTimeoutMs },
}

// timerFields maps a query parameter to the JSON path the control
// protocol's validator names, so a refusal names what the client sent.
var timerFields = map[string]string{
	"timers.noSpeechTimeoutMs":           "noSpeechTimeoutMs",
	"timers.decisionTimeoutMs":           "decisionTimeoutMs",
	"timers.toneTimeoutMs":               "toneTimeoutMs",
	"timers.greetingCompletionTimeoutMs": "greetingCompletionTimeoutMs",
}

// ParseWHIPRequest turns a WHIP POST (raw query string and SDP body) into
// the control protocol's webrtc.offer, validated by the same rules as one
// sent on the control channel, then checks the SDP (CheckOffer). Query
// parameters: callId, machineDetection, thresholdWordCount,
// noSpeechTimeoutMs, decisionTimeoutMs, toneTimeoutMs,
// greetingCompletionTimeoutMs and metadata.KEY=VALUE; anything else is
// refused so a typo is not silently ignored. A missing callId gets a UUID.
func ParseWHIPRequest(rawQuery, sdp string) (control.WebRTCOffer, error) {
	o := control.WebRTCOffer{Envelope: control.Envelope{V: control.Version, Type: control.TypeWebRTCOffer}, SDP: sdp}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return o, &control.FieldError{Field: "query", Message: err.Error()}
	}
	for key, vals := range q {
		if len(vals) != 1 {
			return o, &control.FieldError{Field: key, Message: "given more than once"}
		}
		v := vals[0]
		if mk, ok := strings.CutPrefix(key, "metadata."); ok {
			if o.Metadata == nil {
				o.Metadata = map[string]string{}
			}
			o.Metadata[mk] = v
			continue
		}
		switch key {
		case "callId":
			o.CallID = v
		case "machineDetection":
			o.MachineDetection = engine.Mode(v)
		default:
			field, ok := whipIntParams[key]
			if !ok {
				return o, &control.FieldError{Field: key, Message: "unknown query parameter"}
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return o, &control.FieldError{Field: key, Message: fmt.Sprintf("%q is not an integer", v)}
			}
			*field(&o) = n
		}
	}
	// Validate with the control protocol's own decoder: one set of rules
	// for both ways in, and field names the docs already explain.
	b, err := json.Marshal(&o)
	if err != nil {
		return o, fmt.Errorf("whip: encode offer: %w", err)
	}
	if _, _, err := control.DecodeCommand(b); err != nil {
		var fe *control.FieldError
		if errors.As(err, &fe) {
			if qf, ok := timerFields[fe.Field]; ok {
				return o, &control.FieldError{Field: qf, Message: fe.Message}
			}
		}
		return o, err
	}
	if _, err := CheckOffer(sdp); err != nil {
		return o, &control.FieldError{Field: "sdp", Message: err.Error()}
	}
	if o.CallID == "" {
		o.CallID = uuid.NewString()
	}
	return o, nil
}
