package component

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLimitedLogger logs at most one message per interval per message
// text and counts what it suppressed, reporting the count with the next
// message that gets through. Use it for per-record problems so a flood of
// bad input cannot flood the logs.
type RateLimitedLogger struct {
	log   *slog.Logger
	every time.Duration

	mu   sync.Mutex
	last map[string]time.Time
	supp map[string]int
}

// NewRateLimitedLogger returns a logger letting through one message of
// each text per interval.
func NewRateLimitedLogger(l *slog.Logger, every time.Duration) *RateLimitedLogger {
	return &RateLimitedLogger{log: l, every: every, last: map[string]time.Time{}, supp: map[string]int{}}
}

func (r *RateLimitedLogger) logAt(level slog.Level, msg string, args ...any) {
	if !r.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if t, ok := r.last[msg]; ok && now.Sub(t) < r.every {
		r.supp[msg]++
		r.mu.Unlock()
		return
	}
	if len(r.last) > 1000 { // bounded: messages are fixed texts
		clear(r.last)
	}
	r.last[msg] = now
	n := r.supp[msg]
	delete(r.supp, msg)
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	r.log.Log(context.Background(), level, msg, args...)
}

// Warn logs at warn level, rate limited.
func (r *RateLimitedLogger) Warn(msg string, args ...any) { r.logAt(slog.LevelWarn, msg, args...) }

// Error logs at error level, rate limited.
func (r *RateLimitedLogger) Error(msg string, args ...any) { r.logAt(slog.LevelError, msg, args...) }

// Info logs at info level, rate limited.
func (r *RateLimitedLogger) Info(msg string, args ...any) { r.logAt(slog.LevelInfo, msg, args...) }
