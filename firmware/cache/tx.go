package cache

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is a typed view of one bbolt transaction. It is valid only inside the
// View or Update callback that handed it out.
type Tx struct {
	tx  *bolt.Tx
	now func() time.Time
}

// Now returns the clock reading of the store.
func (t *Tx) Now() time.Time { return t.now() }

func (t *Tx) get(bucket []byte, key []byte, v any) (bool, error) {
	b := t.tx.Bucket(bucket).Get(key)
	if b == nil {
		return false, nil
	}
	return true, decodeValue(b, v)
}

func (t *Tx) put(bucket []byte, key []byte, v any) error {
	b, err := encodeValue(v)
	if err != nil {
		return err
	}
	if err := t.tx.Bucket(bucket).Put(key, b); err != nil {
		return fmt.Errorf("cache: put %s: %w", bucket, err)
	}
	return nil
}

func scan[T any](t *Tx, bucket []byte, prefix []byte, fn func(T) error) error {
	c := t.tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec T
		if err := decodeValue(v, &rec); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// Instance returns the record of a SOP instance.
func (t *Tx) Instance(sopUID string) (Instance, bool, error) {
	k := t.tx.Bucket(bucketSOPs).Get(EncodeKey(sopUID))
	if k == nil {
		return Instance{}, false, nil
	}
	var in Instance
	ok, err := t.get(bucketInstances, k, &in)
	if err == nil && !ok {
		err = fmt.Errorf("%w: SOP index points at a missing instance", ErrCorrupt)
	}
	return in, ok, err
}

// SeriesInstances returns the instances of one series in key order.
func (t *Tx) SeriesInstances(study, series string) ([]Instance, error) {
	var out []Instance
	err := scan(t, bucketInstances, EncodeKey(study, series), func(in Instance) error { out = append(out, in); return nil })
	return out, err
}

// StudyInstances calls fn for every instance of a study.
func (t *Tx) StudyInstances(study string, fn func(Instance) error) error {
	return scan(t, bucketInstances, EncodeKey(study), fn)
}

// AllInstances calls fn for every instance.
func (t *Tx) AllInstances(fn func(Instance) error) error {
	return scan(t, bucketInstances, nil, fn)
}

// Study returns the state of a study.
func (t *Tx) Study(uid string) (Study, bool, error) {
	var s Study
	ok, err := t.get(bucketStudies, EncodeKey(uid), &s)
	return s, ok, err
}

// Studies calls fn for every study.
func (t *Tx) Studies(fn func(Study) error) error { return scan(t, bucketStudies, nil, fn) }

// PutStudy writes the state of a study.
func (t *Tx) PutStudy(s Study) error {
	return t.put(bucketStudies, EncodeKey(s.StudyInstanceUID), s)
}

// Series returns the state of one series.
func (t *Tx) Series(study, series string) (Series, bool, error) {
	var s Series
	ok, err := t.get(bucketSeries, EncodeKey(study, series), &s)
	return s, ok, err
}

// StudySeries returns the series of a study in key order.
func (t *Tx) StudySeries(study string) ([]Series, error) {
	var out []Series
	err := scan(t, bucketSeries, EncodeKey(study), func(s Series) error { out = append(out, s); return nil })
	return out, err
}

// PutSeries writes the state of a series.
func (t *Tx) PutSeries(s Series) error {
	return t.put(bucketSeries, EncodeKey(s.StudyInstanceUID, s.SeriesInstanceUID), s)
}

// Job returns a job by id.
func (t *Tx) Job(id uint64) (Job, bool, error) {
	var j Job
	ok, err := t.get(bucketJobs, EncodeKey(id), &j)
	return j, ok, err
}

// Jobs calls fn for every job in id order.
func (t *Tx) Jobs(fn func(Job) error) error { return scan(t, bucketJobs, nil, fn) }

// NewJob stores j with a new id, state waiting unless set, and returns it.
func (t *Tx) NewJob(j Job) (Job, error) {
	id, err := t.tx.Bucket(bucketJobs).NextSequence()
	if err != nil {
		return Job{}, fmt.Errorf("cache: job id: %w", err)
	}
	j.ID = id
	if j.State == "" {
		j.State = JobWaiting
	}
	j.Created, j.Updated = t.now(), t.now()
	return j, t.put(bucketJobs, EncodeKey(id), j)
}

// PutJob writes a job as given, without checking its state change; use
// SetJobState to move a job through its life cycle.
func (t *Tx) PutJob(j Job) error {
	j.Updated = t.now()
	return t.put(bucketJobs, EncodeKey(j.ID), j)
}

// SetJobState moves a job to state with a reason, checking the life cycle
// (ErrBadTransition), and records the change in the audit log. edit, when not
// nil, changes other fields in the same write.
func (t *Tx) SetJobState(id uint64, state, reason string, edit func(*Job)) (Job, error) {
	j, ok, err := t.Job(id)
	if err != nil {
		return Job{}, err
	}
	if !ok {
		return Job{}, fmt.Errorf("%w: job %d", ErrNotFound, id)
	}
	if !slices.Contains(jobTransitions[j.State], state) {
		return Job{}, fmt.Errorf("%w: job %d is %s, cannot become %s", ErrBadTransition, id, j.State, state)
	}
	j.State, j.Reason = state, reason
	if state == JobRunning {
		j.Attempts++
	}
	if edit != nil {
		edit(&j)
	}
	if err := t.PutJob(j); err != nil {
		return Job{}, err
	}
	return j, t.Audit(AuditEvent{Kind: "job-" + state, Study: j.StudyInstanceUID, JobID: id, Msg: fmt.Sprintf("job %d %s: %s", id, state, reason)})
}

// AddOutbox stores a new outbox entry (state pending unless set).
func (t *Tx) AddOutbox(e OutboxEntry) (OutboxEntry, error) {
	id, err := t.tx.Bucket(bucketOutbox).NextSequence()
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("cache: outbox id: %w", err)
	}
	e.ID = id
	if e.State == "" {
		e.State = OutboxPending
	}
	e.Created, e.Updated = t.now(), t.now()
	return e, t.put(bucketOutbox, EncodeKey(id), e)
}

// PutOutbox writes an outbox entry.
func (t *Tx) PutOutbox(e OutboxEntry) error {
	e.Updated = t.now()
	return t.put(bucketOutbox, EncodeKey(e.ID), e)
}

// Outbox calls fn for every outbox entry in id order.
func (t *Tx) Outbox(fn func(OutboxEntry) error) error { return scan(t, bucketOutbox, nil, fn) }

// Audit appends an event; At defaults to now.
func (t *Tx) Audit(e AuditEvent) error {
	seq, err := t.tx.Bucket(bucketAudit).NextSequence()
	if err != nil {
		return fmt.Errorf("cache: audit sequence: %w", err)
	}
	e.Seq = seq
	if e.At.IsZero() {
		e.At = t.now()
	}
	return t.put(bucketAudit, EncodeKey(seq), e)
}

// AuditEvents calls fn for every audit event from seq onwards.
func (t *Tx) AuditEvents(from uint64, fn func(AuditEvent) error) error {
	c := t.tx.Bucket(bucketAudit).Cursor()
	for k, v := c.Seek(EncodeKey(from)); k != nil; k, v = c.Next() {
		var e AuditEvent
		if err := decodeValue(v, &e); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Outcome says what applyInstance changed.
type Outcome int

// Outcomes of recording an instance.
const (
	Added     Outcome = iota // a new SOP instance
	Replaced                 // same SOP instance, different content
	Duplicate                // same SOP instance, same sha256: nothing changed
)

// applyInstance records an instance and updates its series, study and job:
// a new study gets a waiting job; an instance reaching a study whose job was
// already made ready (or skipped) reopens it with a new generation and a new
// waiting job, so late instances give a new result series. An identical
// duplicate changes nothing.
// touchSeries records that an identical copy of a stored instance was sent
// again, on in.Remote at in.ReceivedAt: a sender resending a series after a
// cut. The series' LastAt and LastRemote move to it while its study is still
// receiving; nothing else changes, and a finished study is not reopened.
func (t *Tx) touchSeries(in Instance) error {
	se, ok, err := t.Series(in.StudyInstanceUID, in.SeriesInstanceUID)
	if err != nil || !ok || in.ReceivedAt.Before(se.LastAt) {
		return err
	}
	st, ok, err := t.Study(in.StudyInstanceUID)
	if err != nil || !ok || st.State != StudyReceiving {
		return err
	}
	se.LastAt, se.LastRemote = in.ReceivedAt, in.Remote
	return t.PutSeries(se)
}

func (t *Tx) applyInstance(in Instance) (Outcome, error) {
	now := in.ReceivedAt
	key := EncodeKey(in.StudyInstanceUID, in.SeriesInstanceUID, in.SOPInstanceUID)
	outcome := Added
	old, exists, err := t.Instance(in.SOPInstanceUID)
	if err != nil {
		return 0, err
	}
	if exists {
		if sameContent(old, in) {
			return Duplicate, nil
		}
		outcome = Replaced
		if old.StudyInstanceUID != in.StudyInstanceUID || old.SeriesInstanceUID != in.SeriesInstanceUID {
			// Moved to another series: the old series loses it.
			if err := t.tx.Bucket(bucketInstances).Delete(EncodeKey(old.StudyInstanceUID, old.SeriesInstanceUID, old.SOPInstanceUID)); err != nil {
				return 0, err
			}
			if err := t.moveOut(old, in); err != nil {
				return 0, err
			}
			outcome = Added
		}
	}
	if err := t.put(bucketInstances, key, in); err != nil {
		return 0, err
	}
	if err := t.tx.Bucket(bucketSOPs).Put(EncodeKey(in.SOPInstanceUID), key); err != nil {
		return 0, err
	}

	se, ok, err := t.Series(in.StudyInstanceUID, in.SeriesInstanceUID)
	if err != nil {
		return 0, err
	}
	if !ok {
		se = Series{StudyInstanceUID: in.StudyInstanceUID, SeriesInstanceUID: in.SeriesInstanceUID,
			Attrs: in.Header, FirstAt: now}
		se.Expected, se.ExpectedFrom = ExpectedCount(in.Header)
		se.MultiFrame = IsEnhancedMR(in.SOPClassUID)
	}
	if outcome == Added {
		se.Count++
	}
	if !now.Before(se.LastAt) {
		se.LastAt, se.LastRemote = now, in.Remote
	}
	if now.Before(se.FirstAt) {
		se.FirstAt = now
	}
	wasComplete := se.Complete
	se.Complete, se.CompleteReason, se.CompleteAt = false, "", time.Time{}
	if err := t.PutSeries(se); err != nil {
		return 0, err
	}

	st, ok, err := t.Study(in.StudyInstanceUID)
	if err != nil {
		return 0, err
	}
	switch {
	case !ok:
		st = Study{StudyInstanceUID: in.StudyInstanceUID, State: StudyReceiving, FirstAt: now, Generation: 1}
		j, err := t.NewJob(Job{StudyInstanceUID: st.StudyInstanceUID, Generation: 1, Reason: "first instance received"})
		if err != nil {
			return 0, err
		}
		st.JobID = j.ID
		if err := t.Audit(AuditEvent{Kind: "study-new", Study: st.StudyInstanceUID, JobID: j.ID,
			Msg: fmt.Sprintf("new study: job %d waiting", j.ID)}); err != nil {
			return 0, err
		}
	case st.State != StudyReceiving:
		prev := st.JobID
		st.Generation++
		st.State, st.FirstAt, st.Reason = StudyReceiving, now, "late instance"
		j, err := t.NewJob(Job{StudyInstanceUID: st.StudyInstanceUID, Generation: st.Generation,
			Reason: fmt.Sprintf("late instance in series %d after job %d", se.Attrs.SeriesNumber, prev)})
		if err != nil {
			return 0, err
		}
		st.JobID = j.ID
		what := "new"
		if outcome == Replaced {
			what = "changed"
		}
		if err := t.Audit(AuditEvent{Kind: "late-instance", Study: st.StudyInstanceUID, Series: se.SeriesInstanceUID, JobID: j.ID,
			Msg: fmt.Sprintf("%s instance in series %d after job %d was decided (%s): job %d waiting, a new result series will follow", what, se.Attrs.SeriesNumber, prev, wasCompleteWord(wasComplete), j.ID)}); err != nil {
			return 0, err
		}
	}
	if now.After(st.LastAt) {
		st.LastAt = now
	}
	return outcome, t.PutStudy(st)
}

// moveOut takes an instance out of the series it was recorded in, because
// the same SOP Instance UID arrived in another series or study (a sender
// that corrected the patient or study and resent, or one that reuses UIDs:
// PS3.3 requires them unique, so the last one received wins). A series left
// empty is removed, and a study left empty has its waiting job skipped,
// so no empty series is ever selected and no job waits for nothing. The
// audit log says where the instance went.
func (t *Tx) moveOut(old, in Instance) error {
	prev, ok, err := t.Series(old.StudyInstanceUID, old.SeriesInstanceUID)
	if err != nil || !ok {
		return err
	}
	prev.Count--
	if prev.Count > 0 {
		if err := t.PutSeries(prev); err != nil {
			return err
		}
	} else if err := t.tx.Bucket(bucketSeries).Delete(EncodeKey(old.StudyInstanceUID, old.SeriesInstanceUID)); err != nil {
		return err
	}
	where := "another series of the study"
	if old.StudyInstanceUID != in.StudyInstanceUID {
		where = "another study"
	}
	if err := t.Audit(AuditEvent{Kind: "instance-moved", Study: old.StudyInstanceUID, Series: old.SeriesInstanceUID,
		Msg: fmt.Sprintf("an instance of series %d was received again in %s; it now belongs there (%d left in this series)",
			prev.Attrs.SeriesNumber, where, prev.Count)}); err != nil {
		return err
	}
	if old.StudyInstanceUID == in.StudyInstanceUID {
		return nil
	}
	left, err := t.StudySeries(old.StudyInstanceUID)
	if err != nil || len(left) > 0 {
		return err
	}
	st, ok, err := t.Study(old.StudyInstanceUID)
	if err != nil || !ok || st.State != StudyReceiving {
		return err
	}
	const why = "every instance of the study was received again under another study"
	st.State, st.Reason = StudySkipped, why
	if err := t.PutStudy(st); err != nil {
		return err
	}
	if j, ok, err := t.Job(st.JobID); err != nil {
		return err
	} else if ok && j.State == JobWaiting {
		if _, err := t.SetJobState(j.ID, JobSkipped, why, nil); err != nil {
			return err
		}
	}
	return nil
}

func wasCompleteWord(c bool) string {
	if c {
		return "series was complete"
	}
	return "series was still open"
}

// deleteStudy removes every record of a study (instances, series, study) and
// returns the instance files to remove after the commit. Jobs, outbox entries
// and audit events stay as history.
func (t *Tx) deleteStudy(uid string) ([]string, error) {
	var files []string
	var keys [][]byte
	err := t.StudyInstances(uid, func(in Instance) error {
		files = append(files, in.Path)
		keys = append(keys, EncodeKey(in.StudyInstanceUID, in.SeriesInstanceUID, in.SOPInstanceUID))
		return t.tx.Bucket(bucketSOPs).Delete(EncodeKey(in.SOPInstanceUID))
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := t.tx.Bucket(bucketInstances).Delete(k); err != nil {
			return nil, err
		}
	}
	ss, err := t.StudySeries(uid)
	if err != nil {
		return nil, err
	}
	for _, s := range ss {
		if err := t.tx.Bucket(bucketSeries).Delete(EncodeKey(uid, s.SeriesInstanceUID)); err != nil {
			return nil, err
		}
	}
	return files, t.tx.Bucket(bucketStudies).Delete(EncodeKey(uid))
}
