package daemon

import (
	"bytes"
	"log/slog"
	"sync"
)

// LogRing keeps the daemon's most recent log lines in memory, for the
// diagnostics bundle (metctl diag). Log lines never hold patient identity
// (CONVENTIONS.md), and diag's test checks that the bundle does not.
type LogRing struct {
	mu    sync.Mutex
	lines [][]byte
	next  int
	full  bool
}

// NewLogRing keeps the last n lines.
func NewLogRing(n int) *LogRing { return &LogRing{lines: make([][]byte, max(n, 1))} }

// Write stores one line (slog's text handler writes one record per call).
func (r *LogRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = bytes.Clone(p)
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
	return len(p), nil
}

// Handler returns a handler that writes text lines into the ring at level
// and above; join it with the daemon's own (slog.NewMultiHandler).
func (r *LogRing) Handler(level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(r, &slog.HandlerOptions{Level: level})
}

// Bytes returns the kept lines, oldest first.
func (r *LogRing) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	if r.full {
		for _, l := range r.lines[r.next:] {
			b.Write(l)
		}
	}
	for _, l := range r.lines[:r.next] {
		b.Write(l)
	}
	return b.Bytes()
}
