package daemon

import (
	"context"
	"log/slog"
)

// releasedMsg is the line firmware/dimse's SCP logs when a peer releases an
// association (A-RELEASE-RQ answered), with the peer as attribute "remote".
const releasedMsg = "dimse: association released"

// releaseHook passes every record to the daemon's handler and calls released
// with the peer's address:port for each association release the SCP logs.
// Intake needs the release to call a series complete by its count or its
// geometry; firmware/dimse has no release callback (its Server reports
// associations only through its Logger), so the daemon reads it there.
// When firmware/dimse grows a callback, this goes.
type releaseHook struct {
	slog.Handler
	released func(remote string)
	remote   string
}

var _ slog.Handler = (*releaseHook)(nil)

// Enabled lets release records through whatever the log level is.
func (h *releaseHook) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.Handler.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *releaseHook) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == releasedMsg && h.remote != "" {
		h.released(h.remote)
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler, keeping the peer's address.
func (h *releaseHook) WithAttrs(as []slog.Attr) slog.Handler {
	c := &releaseHook{Handler: h.Handler.WithAttrs(as), released: h.released, remote: h.remote}
	for _, a := range as {
		if a.Key == "remote" {
			c.remote = a.Value.String()
		}
	}
	return c
}

// WithGroup implements slog.Handler.
func (h *releaseHook) WithGroup(name string) slog.Handler {
	return &releaseHook{Handler: h.Handler.WithGroup(name), released: h.released, remote: h.remote}
}
