// Package testlog holds a log destination for tests.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a concurrency-safe log destination (for slog handlers written
// to from several goroutines) whose content tests read with String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
