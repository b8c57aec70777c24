package intake

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
)

// Timeout actions (config completeness.on_timeout).
const (
	OnTimeoutProceed = "proceed"
	OnTimeoutDiscard = "discard"
)

// Clock is the time source; tests pass a settable one.
type Clock interface {
	Now() time.Time
	// After is time.After on the same clock, used by Run.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is what intake needs from the site file.
type Config struct {
	QuietPeriod time.Duration
	MaxWait     time.Duration
	OnTimeout   string
	Rules       *Rules
}

// ConfigFromSite compiles the completeness and rules sections of a site.
func ConfigFromSite(s *config.Site) (Config, error) {
	r, err := CompileRules(s.Rules)
	if err != nil {
		return Config{}, err
	}
	return Config{QuietPeriod: s.Completeness.QuietPeriod, MaxWait: s.Completeness.MaxWait,
		OnTimeout: s.Completeness.OnTimeout, Rules: r}, nil
}

// Intake decides completeness and readiness over a cache.
type Intake struct {
	store *cache.Store
	cfg   Config
	clock Clock
	log   *slog.Logger
	wake  chan struct{}
	rel   released
	mpps  performed
	// noted holds the series already logged as cut off (noteCut).
	noted sync.Map
	// Ready, when set, is called by Run after a pass that made jobs ready,
	// so the pipeline starts them at once instead of polling.
	Ready func()
}

// New returns an Intake. log may be nil.
func New(store *cache.Store, cfg Config, clock Clock, log *slog.Logger) *Intake {
	if log == nil {
		log = slog.Default()
	}
	if cfg.QuietPeriod <= 0 {
		cfg.QuietPeriod = config.DefaultQuietPeriod
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = config.DefaultMaxWait
	}
	if cfg.OnTimeout == "" {
		cfg.OnTimeout = OnTimeoutProceed
	}
	in := &Intake{store: store, cfg: cfg, clock: clock, log: log, wake: make(chan struct{}, 1),
		rel:  released{since: clock.Now(), remotes: map[string]time.Time{}, cut: map[string]time.Time{}},
		mpps: performed{series: map[string]listing{}}}
	in.loadReleases()
	return in
}

// noteCut logs, once per series, that a series whose sender was cut off
// waits for a resend.
func (in *Intake) noteCut(s cache.Series) {
	if _, seen := in.noted.LoadOrStore(s.SeriesInstanceUID, true); seen {
		return
	}
	in.log.Warn("intake: series cut off before it was complete; waiting for the sender to resend it, or for max_wait",
		"study", short(s.StudyInstanceUID), "series", s.Attrs.SeriesNumber, "instances", s.Count, "max_wait", in.cfg.MaxWait)
}

// Wake asks Run to evaluate now: after each stored instance, and on an
// association release (a hint only: it never completes a series by itself).
func (in *Intake) Wake() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Result is what one Evaluate pass decided.
type Result struct {
	Ready   []uint64  // jobs made ready
	Skipped []uint64  // jobs skipped (no matching series, or discarded)
	Next    time.Time // the next deadline (quiet period or max wait); zero when nothing waits
}

// Evaluate looks at every study still receiving, at the clock's now, and
// records what is due: series complete, studies ready or skipped. It writes
// only when something is due, in one transaction, so each study is decided
// exactly once.
func (in *Intake) Evaluate() (Result, error) {
	var res passResult
	if err := in.store.View(func(tx *cache.Tx) error {
		var err error
		res, err = in.pass(tx, false)
		return err
	}); err != nil {
		return Result{}, err
	}
	if len(res.Ready)+len(res.Skipped) == 0 && !res.changed {
		return res.Result, nil
	}
	// Decide again inside the write: an instance may have arrived since.
	err := in.store.Update(func(tx *cache.Tx) error {
		var err error
		res, err = in.pass(tx, true)
		return err
	})
	if err == nil {
		for _, l := range res.logs {
			l()
		}
	}
	return res.Result, err
}

type passResult struct {
	Result
	changed bool // a series became complete
	// fed is, for each remote, the last time its association fed any
	// series of a study still receiving.
	fed  map[string]time.Time
	logs []func() // log lines to write once the decisions are committed
}

func (in *Intake) pass(tx *cache.Tx, write bool) (passResult, error) {
	now := in.clock.Now()
	var res passResult
	var studies []cache.Study
	if err := tx.Studies(func(st cache.Study) error {
		if st.State == cache.StudyReceiving {
			studies = append(studies, st)
		}
		return nil
	}); err != nil {
		return res, err
	}
	// Each study's series, and for each association the time it last fed
	// any series still receiving: the series in transit when it was cut.
	all := make([][]cache.Series, len(studies))
	res.fed = map[string]time.Time{}
	for i, st := range studies {
		series, err := tx.StudySeries(st.StudyInstanceUID)
		if err != nil {
			return res, fmt.Errorf("intake: study %s: %w", short(st.StudyInstanceUID), err)
		}
		all[i] = series
		for _, s := range series {
			if t, ok := res.fed[s.LastRemote]; !ok || s.LastAt.After(t) {
				res.fed[s.LastRemote] = s.LastAt
			}
		}
	}
	for i, st := range studies {
		if err := in.study(tx, st, all[i], now, write, &res); err != nil {
			return res, fmt.Errorf("intake: study %s: %w", short(st.StudyInstanceUID), err)
		}
	}
	return res, nil
}

func (in *Intake) next(res *passResult, t time.Time) {
	if res.Next.IsZero() || t.Before(res.Next) {
		res.Next = t
	}
}

func (in *Intake) study(tx *cache.Tx, st cache.Study, series []cache.Series, now time.Time, write bool, res *passResult) error {
	audit := func(e cache.AuditEvent) error {
		if !write {
			return nil
		}
		e.Study, e.JobID = st.StudyInstanceUID, st.JobID
		return tx.Audit(e)
	}
	timedOut := !now.Before(st.FirstAt.Add(in.cfg.MaxWait))
	waitingOn := 0
	for i := range series {
		s := &series[i]
		if s.Complete {
			continue
		}
		ok, why, err := in.seriesDue(tx, *s, now, res.fed)
		if err != nil {
			return err
		}
		if !ok && timedOut && in.cfg.OnTimeout == OnTimeoutProceed {
			ok, why = true, fmt.Sprintf("maximum wait %v reached with %d instances; proceeding (on_timeout: proceed)", in.cfg.MaxWait, s.Count)
		}
		if !ok {
			// Before the quiet period ends, that is the next deadline;
			// after it (a series cut short) only max_wait is.
			if at := s.LastAt.Add(in.cfg.QuietPeriod); now.Before(at) {
				in.next(res, at)
			} else {
				in.next(res, st.FirstAt.Add(in.cfg.MaxWait))
			}
			// A candidate series still arriving holds the study, and so
			// does any other series while an association that carries it
			// is open: decided before it ends, a study reopened by a late
			// series would be decided (and reopened) once per instance.
			hold := in.cfg.Rules.IsCandidate(*s)
			if !hold {
				if hold, err = in.rel.arriving(tx, *s); err != nil {
					return err
				}
			}
			if hold {
				waitingOn++
			}
			continue
		}
		res.changed = true
		s.Complete, s.CompleteReason, s.CompleteAt = true, why, now
		if write {
			if err := tx.PutSeries(*s); err != nil {
				return err
			}
		}
		if err := audit(cache.AuditEvent{Kind: "series-complete", Series: s.SeriesInstanceUID,
			Msg: fmt.Sprintf("series %d complete: %s", s.Attrs.SeriesNumber, why)}); err != nil {
			return err
		}
	}

	if timedOut && in.cfg.OnTimeout == OnTimeoutDiscard {
		incomplete := 0
		for _, s := range series {
			if !s.Complete {
				incomplete++
			}
		}
		if incomplete > 0 {
			return in.skip(tx, st, fmt.Sprintf("maximum wait %v reached with %d series incomplete; discarded (on_timeout: discard)", in.cfg.MaxWait, incomplete), nil, write, res)
		}
	}
	if waitingOn > 0 && !timedOut {
		in.next(res, st.FirstAt.Add(in.cfg.MaxWait))
		return nil // a candidate series is still arriving
	}
	var cands []Candidate
	allComplete := true
	for _, s := range series {
		if !s.Complete {
			allComplete = false
			continue
		}
		c := Candidate{Series: s}
		if in.cfg.Rules.IsCandidate(s) {
			insts, err := tx.SeriesInstances(s.StudyInstanceUID, s.SeriesInstanceUID)
			if err != nil {
				return err
			}
			c.Extent, c.Instances = extent(insts), insts
		}
		cands = append(cands, c)
	}
	sel := in.cfg.Rules.Select(cands)
	if sel.Rule == "" {
		if !allComplete {
			in.next(res, st.FirstAt.Add(in.cfg.MaxWait))
			return nil // more series may come; decide when all are complete
		}
		return in.skip(tx, st, "no matching series", sel.Decisions, write, res)
	}
	res.Ready = append(res.Ready, st.JobID)
	if !write {
		return nil
	}
	for _, d := range sel.Decisions {
		if err := audit(cache.AuditEvent{Kind: "select", Series: d.Series, Msg: d.Msg}); err != nil {
			return err
		}
	}
	var names []string
	for _, s := range sel.Series {
		if len(s.Instances) > 0 {
			names = append(names, fmt.Sprintf("series %d (%s, %d images)", s.SeriesNumber, s.Role, len(s.Instances)))
			continue
		}
		names = append(names, fmt.Sprintf("series %d (%s)", s.SeriesNumber, s.Role))
	}
	reason := fmt.Sprintf("%s rule: %s", sel.Rule, strings.Join(names, " + "))
	if _, err := tx.SetJobState(st.JobID, cache.JobReady, reason, func(j *cache.Job) {
		j.Rule, j.Series = sel.Rule, sel.Series
	}); err != nil {
		return err
	}
	st.State, st.Reason = cache.StudyReady, reason
	if err := tx.PutStudy(st); err != nil {
		return err
	}
	res.logs = append(res.logs, func() {
		in.log.Info("intake: study ready", "study", short(st.StudyInstanceUID), "job", st.JobID, "rule", sel.Rule, "series", strings.Join(names, " + "))
	})
	return audit(cache.AuditEvent{Kind: "study-ready", Msg: fmt.Sprintf("study ready, job %d: %s", st.JobID, reason)})
}

func (in *Intake) skip(tx *cache.Tx, st cache.Study, reason string, decisions []Decision, write bool, res *passResult) error {
	res.Skipped = append(res.Skipped, st.JobID)
	if !write {
		return nil
	}
	for _, d := range decisions {
		if err := tx.Audit(cache.AuditEvent{Kind: "select", Study: st.StudyInstanceUID, Series: d.Series, JobID: st.JobID, Msg: d.Msg}); err != nil {
			return err
		}
	}
	if _, err := tx.SetJobState(st.JobID, cache.JobSkipped, reason, nil); err != nil {
		return err
	}
	st.State, st.Reason = cache.StudySkipped, reason
	if err := tx.PutStudy(st); err != nil {
		return err
	}
	res.logs = append(res.logs, func() {
		in.log.Info("intake: study skipped", "study", short(st.StudyInstanceUID), "job", st.JobID, "reason", reason)
	})
	return tx.Audit(cache.AuditEvent{Kind: "study-skipped", Study: st.StudyInstanceUID, JobID: st.JobID, Msg: fmt.Sprintf("study skipped, job %d: %s", st.JobID, reason)})
}

// Run evaluates after every Wake and at each deadline until ctx ends.
// Errors are logged and retried after a second; they never stop intake.
func (in *Intake) Run(ctx context.Context) error {
	for {
		res, err := in.Evaluate()
		wait := time.Duration(-1)
		if err != nil {
			in.log.Error("intake: evaluate", "err", err)
			wait = time.Second
		} else if !res.Next.IsZero() {
			wait = max(res.Next.Sub(in.clock.Now()), 10*time.Millisecond)
		}
		if err == nil && len(res.Ready) > 0 && in.Ready != nil {
			in.Ready()
		}
		var timer <-chan time.Time
		if wait >= 0 {
			timer = in.clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.wake:
		case <-timer:
		}
	}
}

// short returns the tail of a UID for logs: enough to tell studies apart,
// never a patient identifier.
func short(uid string) string {
	if len(uid) > 12 {
		return "…" + uid[len(uid)-12:]
	}
	return uid
}
