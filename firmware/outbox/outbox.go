package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/report"
)

// State of a job or a file.
type State string

// Job states.
const (
	Pending    State = "pending"    // waiting for its next attempt
	Delivered  State = "delivered"  // every file stored (or refused by the destination)
	Dead       State = "dead"       // gave up after Policy.MaxAttempts attempts
	Superseded State = "superseded" // the source changed or newer results replaced it
)

// File states.
const (
	FilePending State = "pending"
	FileSent    State = "sent"
	FileRefused State = "refused" // the destination takes no such object; not retried
)

// ErrRefused is wrapped by a Sender's per-file error when the destination
// will never accept that object (for DICOM: no accepted presentation context
// for its SOP class). The file is not retried.
var ErrRefused = errors.New("outbox: destination refuses this kind of object")

// ErrPermanent is wrapped by a Sender's error (for the association or for a
// file) when the destination refused in a way no retry changes: for DICOM an
// association rejected permanently, or a 0xA7xx, 0xA9xx or 0xCxxx status.
// The job is dead-lettered at once, with one log line, not retried.
var ErrPermanent = errors.New("outbox: destination refused for good")

// ErrUnknownJob is returned by Retry for a job id the outbox does not hold.
var ErrUnknownJob = errors.New("outbox: no such job")

// ErrUnknownDestination is returned by Enqueue when asked for a destination
// not in the site configuration.
var ErrUnknownDestination = errors.New("outbox: unknown destination")

// Clock tells the time; tests inject a fake.
type Clock interface{ Now() time.Time }

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Result is what a Sender reports for one file.
type Result struct {
	Path string
	Err  error // nil when stored; wraps ErrRefused when refused for good
}

// Sender delivers files to a destination over one association.
//
// It returns a Result for every file it tried, in order; it may stop early
// (and return an error) when the association breaks, leaving later files
// untried. An error with no results means nothing was delivered (e.g. the
// destination is down).
type Sender interface {
	Send(ctx context.Context, dest config.Destination, files []string) ([]Result, error)
}

// File is one result file in a job.
type File struct {
	Path  string `json:"path"`
	Kind  string `json:"kind"` // config.SendSEG, SendSR or SendSC
	State State  `json:"state"`
	Err   string `json:"err,omitempty"` // why it was refused
}

// Job is one result set on its way to one destination.
type Job struct {
	ID          string `json:"id"`
	Destination string `json:"destination"`
	// Ref is the caller's reference (the daemon's cache job id), "" when
	// none was given (EnqueueRef).
	Ref           string    `json:"ref,omitempty"`
	SeriesUID     string    `json:"series_uid"`     // the source series
	SourceVersion string    `json:"source_version"` // the source's version the results were made from
	Files         []File    `json:"files"`
	State         State     `json:"state"`
	Attempts      int       `json:"attempts"` // failed attempts so far
	NextAttempt   time.Time `json:"next_attempt"`
	LastError     string    `json:"last_error,omitempty"`
	Created       time.Time `json:"created"`
	Done          time.Time `json:"done,omitzero"`
}

// Outbox holds the jobs. It is safe for concurrent use; RunDue runs one
// attempt at a time.
type Outbox struct {
	// SourceVersion, when set, returns the current version of a source
	// series (any string that changes when its images change).
	SourceVersion func(seriesUID string) (string, error)
	// Regenerate, when set, is called once for a series whose results were
	// superseded because the source changed.
	Regenerate func(seriesUID string)
	// Logger defaults to slog.Default(). Only job ids, destination names and
	// hashed series UIDs are logged.
	Logger *slog.Logger
	// Persist, when set, is called with a copy of a job after every change
	// (queued, attempted, delivered, dead-lettered, superseded, retried), so
	// the daemon can record it in the cache before the next step; on restart
	// Restore brings the recorded jobs back. An error is logged; the job goes
	// on in memory.
	Persist func(Job) error

	sender Sender
	clock  Clock
	policy Policy
	dests  map[string]config.Destination
	order  []string

	run  sync.Mutex // one RunDue at a time
	mu   sync.Mutex
	jobs map[string]*Job
	seq  int
}

// New makes an outbox for the site's destinations.
func New(dests []config.Destination, s Sender, c Clock, p Policy) (*Outbox, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if s == nil || c == nil {
		return nil, fmt.Errorf("outbox: a sender and a clock are required")
	}
	o := &Outbox{sender: s, clock: c, policy: p, dests: map[string]config.Destination{}, jobs: map[string]*Job{}}
	for _, d := range dests {
		if _, dup := o.dests[d.Name]; dup {
			return nil, fmt.Errorf("outbox: destination %q is listed twice", d.Name)
		}
		o.dests[d.Name] = d
		o.order = append(o.order, d.Name)
	}
	return o, nil
}

func (o *Outbox) log() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func copyJob(j *Job) Job {
	c := *j
	c.Files = slices.Clone(j.Files)
	return c
}

// save hands changed jobs to Persist. It must be called without o.mu held.
func (o *Outbox) save(jobs ...Job) {
	if o.Persist == nil {
		return
	}
	for _, j := range jobs {
		if err := o.Persist(j); err != nil {
			o.log().Error("outbox: cannot record job state", "job", j.ID, "state", j.State, "err", err)
		}
	}
}

// HashUID shortens a UID for logs and status: the first 12 hex digits of
// its SHA-256, so a series can be followed without printing its UID.
func HashUID(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:6])
}

// Enqueue queues results made from version sourceVersion of the source
// series seriesUID for every configured destination (or only those named),
// each getting the kinds it accepts. Older unfinished jobs for the same
// series and destination are superseded. It returns the new job ids; a
// destination that accepts none of the kinds present gets no job.
func (o *Outbox) Enqueue(seriesUID, sourceVersion string, files report.Files, only ...string) ([]string, error) {
	return o.EnqueueRef("", seriesUID, sourceVersion, files, only...)
}

// EnqueueRef is Enqueue with the caller's reference recorded in each new
// job (Job.Ref), so the caller can tell which of its work a job belongs to
// when Persist reports it.
func (o *Outbox) EnqueueRef(ref, seriesUID, sourceVersion string, files report.Files, only ...string) ([]string, error) {
	names := o.order
	if len(only) > 0 {
		names = only
	}
	now := o.clock.Now()
	var changed []Job
	defer func() { o.save(changed...) }() // runs after the unlock below
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for _, name := range names {
		d, ok := o.dests[name]
		if !ok {
			return ids, fmt.Errorf("%w %q (configured: %v)", ErrUnknownDestination, name, o.order)
		}
		var fs []File
		add := func(kind, path string) {
			if path != "" && slices.Contains(d.Send, kind) {
				fs = append(fs, File{Path: path, Kind: kind, State: FilePending})
			}
		}
		add(config.SendSEG, files.SEG)
		add(config.SendSR, files.SR)
		for _, p := range files.SC {
			add(config.SendSC, p)
		}
		if len(fs) == 0 {
			continue
		}
		for _, j := range o.jobs {
			if j.SeriesUID == seriesUID && j.Destination == name && (j.State == Pending || j.State == Dead) {
				j.State, j.Done = Superseded, now
				changed = append(changed, copyJob(j))
			}
		}
		o.seq++
		id := fmt.Sprintf("%s-%s-%d", HashUID(seriesUID), name, o.seq)
		j := &Job{ID: id, Destination: name, Ref: ref, SeriesUID: seriesUID, SourceVersion: sourceVersion,
			Files: fs, State: Pending, NextAttempt: now, Created: now}
		o.jobs[id] = j
		changed = append(changed, copyJob(j))
		ids = append(ids, id)
		o.prune()
		o.log().Info("outbox: job queued", "job", id, "destination", name, "files", len(fs))
	}
	return ids, nil
}

// keepFinished is how many delivered or superseded jobs the outbox keeps in
// memory (for Jobs); older ones are only in the Persist hook's record, so a
// box that runs for years neither grows nor slows with its history.
const keepFinished = 256

// prune forgets the oldest delivered and superseded jobs past keepFinished;
// o.mu is held. Pending and dead jobs are always kept.
func (o *Outbox) prune() {
	var done []*Job
	for _, j := range o.jobs {
		if j.State == Delivered || j.State == Superseded {
			done = append(done, j)
		}
	}
	if len(done) <= keepFinished {
		return
	}
	slices.SortFunc(done, func(a, b *Job) int { return a.Done.Compare(b.Done) })
	for _, j := range done[:len(done)-keepFinished] {
		delete(o.jobs, j.ID)
	}
}

// NextDue returns when the earliest pending job is due; ok is false when
// nothing is pending.
func (o *Outbox) NextDue() (t time.Time, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, j := range o.jobs {
		if j.State == Pending && (!ok || j.NextAttempt.Before(t)) {
			t, ok = j.NextAttempt, true
		}
	}
	return t, ok
}

// RunDue makes one attempt for every pending job that is due, oldest
// first, and returns how many attempts it made.
func (o *Outbox) RunDue(ctx context.Context) int {
	o.run.Lock()
	defer o.run.Unlock()
	now := o.clock.Now()
	o.mu.Lock()
	var due []*Job
	for _, j := range o.jobs {
		if j.State == Pending && !j.NextAttempt.After(now) {
			due = append(due, j)
		}
	}
	o.mu.Unlock()
	slices.SortFunc(due, func(a, b *Job) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	regenerated := map[string]bool{}
	n := 0
	for _, j := range due {
		if ctx.Err() != nil {
			break
		}
		if o.stale(j) {
			if !regenerated[j.SeriesUID] && o.Regenerate != nil {
				regenerated[j.SeriesUID] = true
				o.Regenerate(j.SeriesUID)
			}
			continue
		}
		o.attempt(ctx, j)
		n++
	}
	return n
}

func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stale supersedes j when its source series changed since the results were
// made, and reports whether it did.
func (o *Outbox) stale(j *Job) bool {
	if o.SourceVersion == nil {
		return false
	}
	v, err := o.SourceVersion(j.SeriesUID)
	if err != nil || v == j.SourceVersion {
		// When the version cannot be read, send what we have: the results
		// are still those of a series the scanner sent.
		return false
	}
	o.mu.Lock()
	j.State, j.Done = Superseded, o.clock.Now()
	c := copyJob(j)
	o.mu.Unlock()
	o.save(c)
	o.log().Info("outbox: source series changed; results superseded", "job", j.ID, "series", HashUID(j.SeriesUID))
	return true
}

// attempt sends j's pending files over one association.
func (o *Outbox) attempt(ctx context.Context, j *Job) {
	o.mu.Lock()
	dest := o.dests[j.Destination]
	var paths []string
	for _, f := range j.Files {
		if f.State == FilePending {
			paths = append(paths, f.Path)
		}
	}
	o.mu.Unlock()
	res, err := o.sender.Send(ctx, dest, paths)

	o.mu.Lock()
	o.record(j, res, err)
	c := copyJob(j)
	o.mu.Unlock()
	o.save(c)
}

// record updates j after an attempt; o.mu is held.
func (o *Outbox) record(j *Job, res []Result, err error) {
	now := o.clock.Now()
	byPath := map[string]*File{}
	for i := range j.Files {
		byPath[j.Files[i].Path] = &j.Files[i]
	}
	var fileErr, permanent error
	if errors.Is(err, ErrPermanent) {
		permanent = err
	}
	for _, r := range res {
		f, ok := byPath[r.Path]
		if !ok || f.State != FilePending {
			continue
		}
		switch {
		case r.Err == nil:
			f.State = FileSent
		case errors.Is(r.Err, ErrRefused):
			f.State, f.Err = FileRefused, r.Err.Error()
			o.log().Warn("outbox: destination refused a result", "job", j.ID, "destination", j.Destination, "kind", f.Kind, "err", r.Err)
		default:
			if fileErr == nil {
				fileErr = r.Err
			}
			if permanent == nil && errors.Is(r.Err, ErrPermanent) {
				permanent = r.Err
			}
		}
	}
	pending := 0
	for _, f := range j.Files {
		if f.State == FilePending {
			pending++
		}
	}
	if pending == 0 {
		j.State, j.Done, j.LastError = Delivered, now, ""
		o.log().Info("outbox: job delivered", "job", j.ID, "destination", j.Destination, "attempts", j.Attempts+1)
		return
	}
	if err == nil {
		err = fileErr
	}
	if err == nil {
		err = fmt.Errorf("outbox: %d file(s) were not sent", pending)
	}
	j.Attempts++
	j.LastError = err.Error()
	if permanent != nil {
		j.State, j.Done, j.LastError = Dead, now, permanent.Error()
		o.log().Error("outbox: destination refused for good; job dead-lettered without retries", "job", j.ID, "destination", j.Destination, "err", permanent)
		return
	}
	if j.Attempts >= o.policy.MaxAttempts {
		j.State, j.Done = Dead, now
		o.log().Error("outbox: job dead-lettered", "job", j.ID, "destination", j.Destination, "attempts", j.Attempts, "err", err)
		return
	}
	j.NextAttempt = now.Add(o.policy.Delay(j.Attempts))
	o.log().Warn("outbox: attempt failed; will retry", "job", j.ID, "destination", j.Destination,
		"attempts", j.Attempts, "next", j.NextAttempt, "err", err)
}

// Retry puts a dead (or pending) job back in line for an attempt now, with
// its attempt count reset: the field engineer's action after fixing the
// destination.
func (o *Outbox) Retry(id string) error {
	o.mu.Lock()
	j, ok := o.jobs[id]
	if !ok {
		o.mu.Unlock()
		return fmt.Errorf("%w %q", ErrUnknownJob, id)
	}
	if j.State != Dead && j.State != Pending {
		st := j.State
		o.mu.Unlock()
		return fmt.Errorf("outbox: job %q is %s (only dead or pending jobs can be retried)", id, st)
	}
	j.State, j.Attempts, j.NextAttempt, j.Done = Pending, 0, o.clock.Now(), time.Time{}
	c := copyJob(j)
	o.mu.Unlock()
	o.save(c)
	return nil
}

// Jobs returns a copy of every job, for persistence.
func (o *Outbox) Jobs() []Job {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Job, 0, len(o.jobs))
	for _, j := range o.jobs {
		c := *j
		c.Files = slices.Clone(j.Files)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Job) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	return out
}

// Restore loads jobs saved with Jobs (after a restart). Jobs for a
// destination no longer configured are dead-lettered with a reason.
func (o *Outbox) Restore(jobs []Job) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, j := range jobs {
		c := j
		c.Files = slices.Clone(j.Files)
		if _, ok := o.dests[c.Destination]; !ok && c.State == Pending {
			c.State, c.LastError = Dead, fmt.Sprintf("outbox: destination %q is no longer configured", c.Destination)
		}
		o.jobs[c.ID] = &c
		o.seq++
	}
	o.prune()
}
