package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"metsentry/firmware/dimse"
)

// maxSteps bounds the procedure steps kept in memory: a console creates one
// per acquisition and completes it minutes later.
const maxSteps = 256

// steps is the daemon's MPPS SCP (dimse.Steps): it keeps each step the
// console creates, merges what each N-SET changes, and when a step is
// COMPLETED tells intake which instances it made, so a study starts as soon
// as they are all stored (intake.Performed). Steps live in memory only: after
// a restart a study falls back to the release, the count and the quiet period.
type steps struct {
	mu        sync.Mutex
	byUID     map[string]dimse.PerformedStep
	order     []string // creation order, oldest first
	performed func(series map[string][]string)
	log       *slog.Logger
}

var _ dimse.Steps = (*steps)(nil)

func newSteps(performed func(map[string][]string), log *slog.Logger) *steps {
	return &steps{byUID: map[string]dimse.PerformedStep{}, performed: performed, log: log}
}

// Create implements dimse.Steps.
func (s *steps) Create(_ context.Context, _ netip.AddrPort, st dimse.PerformedStep) error {
	s.mu.Lock()
	if _, dup := s.byUID[st.SOPInstanceUID]; dup {
		s.mu.Unlock()
		return fmt.Errorf("daemon: procedure step %s exists already", dimse.HashUID(st.SOPInstanceUID))
	}
	if len(s.order) >= maxSteps {
		delete(s.byUID, s.order[0])
		s.order = s.order[1:]
	}
	s.byUID[st.SOPInstanceUID] = st
	s.order = append(s.order, st.SOPInstanceUID)
	s.mu.Unlock()
	s.done(st)
	return nil
}

// Set implements dimse.Steps.
func (s *steps) Set(_ context.Context, _ netip.AddrPort, st dimse.PerformedStep) error {
	s.mu.Lock()
	old, ok := s.byUID[st.SOPInstanceUID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w (step %s)", dimse.ErrNoSuchStep, dimse.HashUID(st.SOPInstanceUID))
	}
	if st.Status != "" {
		old.Status = st.Status
	}
	if st.Series != nil {
		old.Series = st.Series
	}
	if st.StudyInstanceUIDs != nil {
		old.StudyInstanceUIDs = st.StudyInstanceUIDs
	}
	s.byUID[st.SOPInstanceUID] = old
	s.mu.Unlock()
	s.done(old)
	return nil
}

// done tells intake what a COMPLETED step made.
func (s *steps) done(st dimse.PerformedStep) {
	if st.Status != dimse.StepCompleted {
		return
	}
	series := map[string][]string{}
	n := 0
	for _, ps := range st.Series {
		series[ps.SeriesInstanceUID] = append(series[ps.SeriesInstanceUID], ps.Instances...)
		n += len(ps.Instances)
	}
	s.log.Info("MPPS: procedure step completed", "step", dimse.HashUID(st.SOPInstanceUID), "series", len(series), "instances", n)
	s.performed(series)
}
