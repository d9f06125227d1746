package turnserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// levelPionDebug is the slog level of pion's debug and trace messages.
// pion logs at debug once per relayed packet, so they sit below
// slog.LevelDebug and appear only when asked for explicitly.
const levelPionDebug = slog.LevelDebug - 4

// pionLoggerFactory adapts a slog.Logger to pion's logging.LoggerFactory.
type pionLoggerFactory struct{ l *slog.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{l: f.l.With("pion", scope)}
}

// pionLogger is a logging.LeveledLogger that formats only enabled messages.
type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level slog.Level, msg string) {
	if p.l.Enabled(context.Background(), level) {
		p.l.Log(context.Background(), level, msg)
	}
}

func (p pionLogger) logf(level slog.Level, format string, args ...any) {
	if p.l.Enabled(context.Background(), level) {
		p.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (p pionLogger) Trace(msg string)                  { p.log(levelPionDebug, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(levelPionDebug, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(levelPionDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(levelPionDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.log(slog.LevelInfo, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(infoLevel(format), format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log(slog.LevelWarn, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(slog.LevelWarn, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(slog.LevelError, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(slog.LevelError, format, args...) }

// perPacketInfo are pion/turn messages logged at info level once per
// packet. Anyone can send UDP to a relay address, so at info level they
// would let a stranger flood the log; they are pion-debug here.
var perPacketInfo = []string{
	"No Permission or Channel exists for ", // a packet from a peer without permission, dropped
}

// infoLevel is the level of one of pion's info messages.
func infoLevel(format string) slog.Level {
	for _, prefix := range perPacketInfo {
		if strings.HasPrefix(format, prefix) {
			return levelPionDebug
		}
	}
	return slog.LevelInfo
}
