package webrtcleg

import (
	"fmt"

	"github.com/pion/logging"
	"github.com/rs/zerolog"
)

// pionLogs routes pion's logs into zerolog with a "pion" scope field. pion
// is chatty at Warn about conditions that are normal for us (a peer's
// unsupported extension, a late STUN packet), so its Warn and Info become
// Debug and only its Error is a Warn here.
type pionLogs struct{ log zerolog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With().Str("pion", scope).Logger()}
}

type pionLogger struct{ log zerolog.Logger }

func (l pionLogger) Trace(msg string) { l.log.Trace().Msg(msg) }
func (l pionLogger) Tracef(format string, args ...any) {
	l.log.Trace().Msg(fmt.Sprintf(format, args...))
}
func (l pionLogger) Debug(msg string) { l.log.Trace().Msg(msg) }
func (l pionLogger) Debugf(format string, args ...any) {
	l.log.Trace().Msg(fmt.Sprintf(format, args...))
}
func (l pionLogger) Info(msg string) { l.log.Debug().Msg(msg) }
func (l pionLogger) Infof(format string, args ...any) {
	l.log.Debug().Msg(fmt.Sprintf(format, args...))
}
func (l pionLogger) Warn(msg string) { l.log.Debug().Msg(msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	l.log.Debug().Msg(fmt.Sprintf(format, args...))
}
func (l pionLogger) Error(msg string) { l.log.Warn().Msg(msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.log.Warn().Msg(fmt.Sprintf(format, args...))
}
