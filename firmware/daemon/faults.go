package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"metsentry/firmware/outbox"
	"metsentry/firmware/panel"
)

// unreachable keeps panel.FaultNetwork current from the outbox's delivery
// attempts: on from a failed attempt to some destination until results are
// delivered there again (a dead letter leaves it on: the destination has not
// been reached). The results stay queued in the cache meanwhile (the
// outbox's retries, then its dead letter with FaultDelivery), so a
// destination that is down loses nothing; the fault tells the technologist
// why no results arrive.
type unreachable struct {
	mu   sync.Mutex
	down []string // destinations whose last attempt failed
}

// note records one outbox job change and returns whether the fault is on,
// and whether it changed.
func (u *unreachable) note(oj outbox.Job) (on, changed bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	was := len(u.down) > 0
	i := slices.Index(u.down, oj.Destination)
	switch {
	case oj.State == outbox.Pending && oj.Attempts > 0 && oj.LastError != "":
		if i < 0 {
			u.down = append(u.down, oj.Destination)
		}
	case oj.State == outbox.Delivered:
		if i >= 0 {
			u.down = slices.Delete(u.down, i, i+1)
		}
	}
	on = len(u.down) > 0
	return on, on != was
}

// networkFault updates the panel from one outbox job change.
func (p *pipeline) networkFault(oj outbox.Job) {
	on, changed := p.down.note(oj)
	if !changed {
		return
	}
	if on {
		p.log.Error("pipeline: a destination cannot be reached; results wait in the outbox for the next attempt",
			"destination", oj.Destination, "attempts", oj.Attempts, "next_attempt", oj.NextAttempt, "err", oj.LastError)
	} else {
		p.log.Info("pipeline: destinations reachable again", "destination", oj.Destination)
	}
	if p.panel != nil {
		p.panel.SetFault(panel.FaultNetwork, on)
	}
}

// ErrRuntime marks an Inference error that comes from the inference runtime
// itself (ONNX Runtime missing, the wrong version, or failing to start),
// rather than from the model: the panel shows FaultRuntime instead of
// FaultModel, so the field engineer knows whether to reinstall the runtime
// or the model.
var ErrRuntime = errors.New("daemon: inference runtime unavailable")

// inferenceFault reports an inference runtime or model that failed to start.
func inferenceFault(log *slog.Logger, p Panel, err error) {
	code, what := panel.FaultModel, "model"
	if errors.Is(err, ErrRuntime) {
		code, what = panel.FaultRuntime, "inference runtime"
	}
	log.Error("daemon: the "+what+" failed to start: studies are received and kept, analysis waits for a restart with it fixed",
		"fault", fmt.Sprintf("E%04X", code), "err", err)
	if p != nil {
		p.SetFault(code, true)
	}
}
