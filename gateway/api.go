package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/amd-engine/amd/docs"
	"github.com/amd-engine/amd/gateway/auth"
	"github.com/amd-engine/amd/gateway/store"
)

// API paths. They are the Kore.ai Voice Gateway's, so dialers written
// against it only change the host.
const (
	PathDialout      = "/api/1.1/public/bot/{botId}/smartassist/dialout"
	PathInteractions = "/api/1.1/public/bot/{botId}/interactions"
	PathInteraction  = "/api/1.1/public/bot/{botId}/interactions/{callId}"
	PathPage         = "/interactions"
	PathOpenAPI      = "/openapi.yaml"
	PathMetrics      = "/metrics"
	PathHealth       = "/healthz"
)

// Error codes of the JSON error body.
const (
	CodeUnauthorized  = "unauthorized"
	CodeInvalidField  = "invalid_field"
	CodeNotFound      = "not_found"
	CodeNoEngine      = "no_engine"
	CodeEngineRefused = "engine_refused"
	CodeInternal      = "internal"
)

// APIError is the JSON body of every error reply.
type APIError struct {
	Error   string `json:"error"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Handler returns the HTTP handler of the API, page, metrics and health.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathDialout, g.handleDialout)
	mux.HandleFunc("GET "+PathInteractions, g.handleInteractions)
	mux.HandleFunc("GET "+PathInteraction, g.handleInteraction)
	mux.HandleFunc("GET "+PathPage, g.handlePage)
	mux.HandleFunc("GET "+PathOpenAPI, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(docs.OpenAPI)
	})
	mux.Handle("GET "+PathMetrics, promhttp.HandlerFor(g.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, r *http.Request) {
		code, body := g.health(r.Context())
		writeJSON(w, code, body)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, e APIError) { writeJSON(w, code, e) }

// authorize checks the request's JWT; on failure it has written the 401.
func (g *Gateway) authorize(w http.ResponseWriter, r *http.Request) (*auth.Claims, bool) {
	tok, err := auth.TokenFromHeaders(r.Header.Get(auth.Header), r.Header.Get("Authorization"))
	if err == nil {
		var c *auth.Claims
		if c, err = g.verifier.Verify(tok); err == nil {
			return c, true
		}
	}
	msg := "a valid JWT (HS256, with exp) is required in the \"auth\" header"
	switch {
	case errors.Is(err, auth.ErrMissingToken):
		msg = "missing JWT: send it in the \"auth\" header"
	case errors.Is(err, auth.ErrExpiredToken):
		msg = "JWT expired"
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="amdgw"`)
	writeError(w, http.StatusUnauthorized, APIError{Error: CodeUnauthorized, Message: msg})
	return nil, false
}

func (g *Gateway) handleDialout(w http.ResponseWriter, r *http.Request) {
	claims, ok := g.authorize(w, r)
	if !ok {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxDialoutBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, APIError{Error: CodeInvalidField, Message: "read body: " + err.Error()})
		return
	}
	req, err := DecodeDialout(bytes.NewReader(raw))
	if err != nil {
		var fe *FieldError
		errors.As(err, &fe)
		writeError(w, http.StatusBadRequest, APIError{Error: CodeInvalidField, Field: fe.Field, Message: fe.Error()})
		return
	}
	canon, _ := json.Marshal(req)
	res, err := g.Dial(r.Context(), r.PathValue("botId"), claims.AppID, req, canon)
	var fe *FieldError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, APIError{Error: CodeInvalidField, Field: fe.Field, Message: fe.Error()})
	case errors.Is(err, ErrNoEngine):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, APIError{Error: CodeNoEngine, Message: err.Error()})
	case errors.Is(err, ErrEngineRefused):
		writeError(w, http.StatusBadGateway, APIError{Error: CodeEngineRefused, Message: err.Error()})
	default:
		g.log.Error().Err(err).Msg("dialout")
		writeError(w, http.StatusInternalServerError, APIError{Error: CodeInternal, Message: "internal error"})
	}
}

// InteractionView is one call as the interactions API shows it.
type InteractionView struct {
	store.Call
	// Notifications summarises the call's outbox (detail only).
	Notifications []NotificationView `json:"notifications,omitempty"`
}

// NotificationView is one notification's delivery record.
type NotificationView struct {
	Seq            int       `json:"seq"`
	Status         string    `json:"status"`
	IdempotencyKey string    `json:"idempotencyKey"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
	CreatedAt      time.Time `json:"createdAt"`
	DeliveredAt    time.Time `json:"deliveredAt,omitzero"`
	NextAttempt    time.Time `json:"nextAttempt,omitzero"`
	LastError      string    `json:"lastError,omitempty"`
	LastHTTPCode   int       `json:"lastHttpCode,omitempty"`
}

// redact hides notifyHeaders values: they are often the receiver's own
// credentials and the interactions are readable by anyone with a token.
func redact(c store.Call) store.Call {
	if len(c.NotifyHeaders) > 0 {
		h := make(map[string]string, len(c.NotifyHeaders))
		for k := range c.NotifyHeaders {
			h[k] = "***"
		}
		c.NotifyHeaders = h
	}
	return c
}

// InteractionsPage is the list reply.
type InteractionsPage struct {
	Interactions []InteractionView `json:"interactions"`
	NextCursor   string            `json:"nextCursor,omitempty"`
}

// DefaultPageSize is the interactions page size when limit is absent.
const DefaultPageSize = 50

// parseFilter reads status, from, to, limit and cursor.
func parseFilter(q map[string][]string) (store.Filter, *FieldError) {
	var f store.Filter
	for _, v := range q["status"] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.Status = append(f.Status, s)
			}
		}
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		vs := q[tf.name]
		if len(vs) == 0 || vs[0] == "" {
			continue
		}
		t, err := parseTime(vs[0])
		if err != nil {
			return f, fieldErr(tf.name, "%q: want RFC 3339 or unix milliseconds", vs[0])
		}
		*tf.dst = t
	}
	f.Limit = DefaultPageSize
	if vs := q["limit"]; len(vs) > 0 && vs[0] != "" {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > store.MaxPage {
			return f, fieldErr("limit", "%q: want 1..%d", vs[0], store.MaxPage)
		}
		f.Limit = n
	}
	if vs := q["cursor"]; len(vs) > 0 {
		f.Cursor = vs[0]
	}
	return f, nil
}

func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (g *Gateway) handleInteractions(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authorize(w, r); !ok {
		return
	}
	f, fe := parseFilter(r.URL.Query())
	if fe != nil {
		writeError(w, http.StatusBadRequest, APIError{Error: CodeInvalidField, Field: fe.Field, Message: fe.Error()})
		return
	}
	f.BotID = r.PathValue("botId")
	calls, next, err := g.store.ListCalls(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, APIError{Error: CodeInvalidField, Field: "cursor", Message: "cursor: not one this API returned"})
		return
	}
	if err != nil {
		g.log.Error().Err(err).Msg("list interactions")
		writeError(w, http.StatusInternalServerError, APIError{Error: CodeInternal, Message: "internal error"})
		return
	}
	page := InteractionsPage{Interactions: make([]InteractionView, 0, len(calls)), NextCursor: next}
	for _, c := range calls {
		page.Interactions = append(page.Interactions, InteractionView{Call: redact(c)})
	}
	writeJSON(w, http.StatusOK, page)
}

func (g *Gateway) interaction(ctx context.Context, botID, callID string) (*InteractionView, error) {
	c, err := g.store.GetCall(ctx, callID)
	if err != nil {
		return nil, err
	}
	if botID != "" && c.BotID != botID {
		return nil, store.ErrNotFound
	}
	notes, err := g.store.Notifications(ctx, callID)
	if err != nil {
		return nil, err
	}
	v := &InteractionView{Call: redact(*c)}
	for _, n := range notes {
		nv := NotificationView{Seq: n.Seq, Status: n.Status, IdempotencyKey: n.Key, State: n.State, Attempts: n.Attempts,
			CreatedAt: n.CreatedAt, DeliveredAt: n.DeliveredAt, LastError: n.LastError, LastHTTPCode: n.LastHTTPCode}
		if n.State == store.DeliveryPending {
			nv.NextAttempt = n.NextAttempt
		}
		v.Notifications = append(v.Notifications, nv)
	}
	return v, nil
}

func (g *Gateway) handleInteraction(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.authorize(w, r); !ok {
		return
	}
	v, err := g.interaction(r.Context(), r.PathValue("botId"), r.PathValue("callId"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, APIError{Error: CodeNotFound, Message: "no such call for this bot"})
	case err != nil:
		g.log.Error().Err(err).Msg("get interaction")
		writeError(w, http.StatusInternalServerError, APIError{Error: CodeInternal, Message: "internal error"})
	default:
		writeJSON(w, http.StatusOK, v)
	}
}
