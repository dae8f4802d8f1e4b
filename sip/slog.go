package sip

import (
	"context"
	"log/slog"

	"github.com/rs/zerolog"
)

// zerologHandler routes sipgo's slog output into our zerolog logger so one
// call's SIP and media lines land in the same stream. sipgo's Info is
// chatty transaction detail, so it is demoted to Debug.
type zerologHandler struct {
	log   zerolog.Logger
	attrs []slog.Attr
}

// SlogFromZerolog adapts a zerolog logger for sipgo (and anything else that
// wants a *slog.Logger), with sipgo's chatty Info demoted to Debug.
func SlogFromZerolog(log zerolog.Logger) *slog.Logger { return newSlog(log) }

func newSlog(log zerolog.Logger) *slog.Logger {
	return slog.New(&zerologHandler{log: log.With().Str("component", "sipgo").Logger()})
}

func (h *zerologHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= zlevel(l)
}

func zlevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	}
	return zerolog.DebugLevel
}

func (h *zerologHandler) Handle(_ context.Context, r slog.Record) error {
	ev := h.log.WithLevel(zlevel(r.Level))
	for _, a := range h.attrs {
		ev = ev.Str(a.Key, a.Value.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		ev = ev.Str(a.Key, a.Value.String())
		return true
	})
	ev.Msg(r.Message)
	return nil
}

func (h *zerologHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &zerologHandler{log: h.log, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
	return n
}

func (h *zerologHandler) WithGroup(string) slog.Handler { return h }
