package console

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// Redacted replaces the value of a patient attribute in the log ring.
const Redacted = "[redacted]"

// Ring keeps the last lines logged through its Handler, for the console's
// `log` command. It is safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

// NewRing returns a ring holding the last size lines.
func NewRing(size int) *Ring {
	if size < 1 {
		size = 1
	}
	return &Ring{lines: make([]string, size)}
}

func (r *Ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}

// Last returns up to n of the newest lines, oldest first.
func (r *Ring) Last(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	count := r.next
	if r.full {
		count = len(r.lines)
	}
	n = min(max(n, 0), count)
	out := make([]string, 0, n)
	for i := count - n; i < count; i++ {
		idx := i
		if r.full {
			idx = (r.next + i) % len(r.lines)
		}
		out = append(out, r.lines[idx])
	}
	return out
}

// Handler returns an slog.Handler that writes text lines into the ring,
// dropping records below level and replacing the value of every patient
// attribute with Redacted (see IsPatientKey). The daemon adds it to its
// logger beside its journal handler.
func (r *Ring) Handler(level slog.Leveler) slog.Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &ringHandler{ring: r, level: level}
}

type ringOp struct {
	group string
	attrs []slog.Attr
}

type ringHandler struct {
	ring  *Ring
	level slog.Leveler
	ops   []ringOp // WithGroup and WithAttrs calls, in order
}

func (h *ringHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.ops = append(append([]ringOp(nil), h.ops...), ringOp{attrs: as})
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.ops = append(append([]ringOp(nil), h.ops...), ringOp{group: name})
	return &c
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	var buf bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: redact})
	for _, op := range h.ops {
		if op.group != "" {
			th = th.WithGroup(op.group)
		} else {
			th = th.WithAttrs(op.attrs)
		}
	}
	if err := th.Handle(ctx, rec); err != nil {
		return err
	}
	h.ring.add(strings.TrimRight(buf.String(), "\n"))
	return nil
}

// redact is the ReplaceAttr of the ring's text handler.
func redact(groups []string, a slog.Attr) slog.Attr {
	for _, g := range groups {
		if IsPatientKey(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	if IsPatientKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

// IsPatientKey reports whether a log attribute key (or group name) names
// patient data: any key containing "patient" once case, "_", "-", "." and
// spaces are ignored (PatientName, patient_id, PatientBirthDate,
// OtherPatientIDs, IssuerOfPatientID), and the DICOM tags of the Patient
// group, 0010xxxx, written as "00100010" or "(0010,0010)".
func IsPatientKey(key string) bool {
	var b strings.Builder
	for _, c := range strings.ToLower(key) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	k := b.String()
	if strings.Contains(k, "patient") {
		return true
	}
	return len(k) == 8 && strings.HasPrefix(k, "0010") && isHex(k)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
