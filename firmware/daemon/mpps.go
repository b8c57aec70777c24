package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/dimse"
)

// maxSteps bounds the procedure steps kept: a console creates one per
// acquisition and completes it minutes later.
const maxSteps = 256

// steps is the daemon's MPPS SCP (dimse.Steps): it keeps each step the
// console creates, merges what each N-SET changes, and when a step is
// COMPLETED tells intake which instances it made, so a study starts as soon
// as they are all stored (intake.Performed). Every step is recorded in the
// cache before the console is answered, so after a restart an N-SET still
// finds its N-CREATE, and the listings of steps completed within keep are
// given to intake again.
type steps struct {
	mu        sync.Mutex
	store     *cache.Store
	byUID     map[string]dimse.PerformedStep
	order     []string // creation order, oldest first
	performed func(series map[string][]string)
	clock     func() time.Time
	log       *slog.Logger
}

var _ dimse.Steps = (*steps)(nil)

// newSteps reads the steps the cache holds (the newest maxSteps) and hands
// intake, through performed, the listing of each one COMPLETED within keep
// before clock's now.
func newSteps(store *cache.Store, performed func(map[string][]string), keep time.Duration, clock func() time.Time, log *slog.Logger) (*steps, error) {
	s := &steps{store: store, byUID: map[string]dimse.PerformedStep{}, performed: performed, clock: clock, log: log}
	var recs []cache.Step
	if err := store.View(func(tx *cache.Tx) error {
		return tx.Steps(func(r cache.Step) error { recs = append(recs, r); return nil })
	}); err != nil {
		return nil, fmt.Errorf("daemon: read the recorded procedure steps: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b cache.Step) int { return a.At.Compare(b.At) })
	var drop []string
	if n := len(recs) - maxSteps; n > 0 {
		for _, r := range recs[:n] {
			drop = append(drop, r.UID)
		}
		recs = recs[n:]
	}
	var redo []dimse.PerformedStep
	now := s.clock()
	for _, r := range recs {
		var st dimse.PerformedStep
		if err := json.Unmarshal(r.Body, &st); err != nil || st.SOPInstanceUID != r.UID {
			log.Error("MPPS: a recorded procedure step cannot be read; dropped", "step", dimse.HashUID(r.UID), "err", err)
			drop = append(drop, r.UID)
			continue
		}
		s.byUID[st.SOPInstanceUID] = st
		s.order = append(s.order, st.SOPInstanceUID)
		if st.Status == dimse.StepCompleted && now.Sub(r.At) <= keep {
			redo = append(redo, st)
		}
	}
	if len(drop) > 0 {
		if err := store.Update(func(tx *cache.Tx) error {
			for _, u := range drop {
				if err := tx.DeleteStep(u); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("daemon: drop old procedure steps: %w", err)
		}
	}
	if len(s.order) > 0 {
		log.Info("MPPS: procedure steps recorded before this start", "steps", len(s.order), "completed_recently", len(redo))
	}
	for _, st := range redo {
		s.done(st)
	}
	return s, nil
}

// record writes st (and drops the step named drop, when not "") in one
// cache transaction. Call with s.mu held.
func (s *steps) record(st dimse.PerformedStep, drop string) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("daemon: encode a procedure step: %w", err)
	}
	err = s.store.Update(func(tx *cache.Tx) error {
		if drop != "" {
			if err := tx.DeleteStep(drop); err != nil {
				return err
			}
		}
		return tx.PutStep(cache.Step{UID: st.SOPInstanceUID, At: s.clock(), Body: body})
	})
	if err != nil {
		return fmt.Errorf("daemon: record procedure step %s: %w", dimse.HashUID(st.SOPInstanceUID), err)
	}
	return nil
}

// Create implements dimse.Steps.
func (s *steps) Create(_ context.Context, _ netip.AddrPort, st dimse.PerformedStep) error {
	s.mu.Lock()
	if _, dup := s.byUID[st.SOPInstanceUID]; dup {
		s.mu.Unlock()
		return fmt.Errorf("daemon: procedure step %s exists already", dimse.HashUID(st.SOPInstanceUID))
	}
	drop := ""
	if len(s.order) >= maxSteps {
		drop = s.order[0]
	}
	if err := s.record(st, drop); err != nil {
		s.mu.Unlock()
		return err
	}
	if drop != "" {
		delete(s.byUID, drop)
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
	if err := s.record(old, ""); err != nil {
		s.mu.Unlock()
		return err
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
