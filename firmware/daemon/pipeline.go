package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/outbox"
	"metsentry/firmware/panel"
	"metsentry/firmware/report"
)

// ResultsDir is the folder, inside the cache folder, holding each job's
// result files (results/job-<id>/).
const ResultsDir = "results"

// Panel is what the pipeline tells the front panel (*panel.Machine).
type Panel interface {
	Receiving()
	Processing()
	Result(lesions int)
	SetFault(code uint16, on bool)
}

var _ Panel = (*panel.Machine)(nil)

// JobEvent is one step of a job, for the panel, the console and tests.
type JobEvent struct {
	Job     uint64
	State   string // the cache job state reached
	Lesions int    // with cache.JobReported
	Mode    analyze.Mode
	Reason  string
	At      time.Time
}

// pipeline carries ready jobs through analysis and delivery: ready →
// running → reported (results written, queued in the outbox) → delivered,
// dead or superseded; or failed with its reason. Every state is recorded in
// the cache before the next step, and the outbox's queue lives in the cache
// too (deliveries), so after a crash it resumes: running jobs come back
// ready (cache.Recover) and run again, reported jobs whose deliveries were
// not all recorded are queued again, and pending deliveries go on. Result
// UIDs are derived from the study and the model (analyze.IDsFor), so a job
// run twice replaces its results at the PACS, never duplicates them.
type pipeline struct {
	store  *cache.Store
	an     *analyze.Analyzer
	ob     *outbox.Outbox
	log    *slog.Logger
	panel  Panel
	events func(JobEvent)
	// destNames are the site's destinations, in order.
	destNames []string
	work      chan struct{}
	send      chan struct{}
	down      unreachable // destinations down (faults.go)
}

func newPipeline(store *cache.Store, an *analyze.Analyzer, dests []config.Destination, sender outbox.Sender, pol outbox.Policy, log *slog.Logger, p Panel, events func(JobEvent)) (*pipeline, error) {
	ob, err := outbox.New(dests, sender, outbox.SystemClock{}, pol)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	ob.Logger = log
	pl := &pipeline{store: store, an: an, ob: ob, log: log, panel: p, events: events,
		work: make(chan struct{}, 1), send: make(chan struct{}, 1)}
	for _, d := range dests {
		pl.destNames = append(pl.destNames, d.Name)
	}
	ob.Persist = pl.persist
	return pl, nil
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Ready wakes the job loop (intake's Ready hook).
func (p *pipeline) Ready() { poke(p.work) }

func (p *pipeline) emit(e JobEvent) {
	e.At = time.Now()
	if cache.Terminal(e.State) {
		p.log.Info("pipeline: job "+e.State, "job", e.Job, "reason", e.Reason)
	}
	if p.events != nil {
		p.events(e)
	}
}

// restore loads the recorded deliveries into the outbox and queues again
// the results of reported jobs that lack a delivery for some destination
// (a crash between recording the results and queueing them).
func (p *pipeline) restore() error {
	var jobs []outbox.Job
	have := map[uint64][]string{}
	var reported []cache.Job
	err := p.store.View(func(tx *cache.Tx) error {
		if err := tx.Deliveries(func(d cache.Delivery) error {
			var j outbox.Job
			if err := json.Unmarshal(d.Body, &j); err != nil {
				return fmt.Errorf("daemon: delivery %s: %w", d.ID, err)
			}
			jobs = append(jobs, j)
			have[d.JobID] = append(have[d.JobID], d.Destination)
			return nil
		}); err != nil {
			return err
		}
		return tx.Jobs(func(j cache.Job) error {
			if j.State == cache.JobReported {
				reported = append(reported, j)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	p.ob.Restore(jobs)
	for _, j := range reported {
		var missing []string
		for _, d := range p.destNames {
			if !slices.Contains(have[j.ID], d) {
				missing = append(missing, d)
			}
		}
		if len(have[j.ID]) > 0 && len(missing) == 0 {
			if err := p.settle(j.ID); err != nil {
				return err
			}
			continue
		}
		files, err := resultFiles(p.jobDir(j.ID))
		if err != nil {
			p.fail(j.ID, cache.JobDead, fmt.Sprintf("results of job %d cannot be read after a restart: %v", j.ID, err))
			continue
		}
		p.log.Info("pipeline: queueing results again after a restart", "job", j.ID, "destinations", strings.Join(missing, ","))
		if err := p.enqueue(j, files, missing...); err != nil {
			return err
		}
	}
	poke(p.send)
	return nil
}

// jobDir is where a job's results are written.
func (p *pipeline) jobDir(id uint64) string {
	return filepath.Join(p.store.Dir(), ResultsDir, "job-"+strconv.FormatUint(id, 10))
}

// resultFiles finds the files report.Write left in dir.
func resultFiles(dir string) (report.Files, error) {
	var f report.Files
	if _, err := os.Stat(filepath.Join(dir, "sr.dcm")); err != nil {
		return f, err
	}
	f.SR = filepath.Join(dir, "sr.dcm")
	if _, err := os.Stat(filepath.Join(dir, "seg.dcm")); err == nil {
		f.SEG = filepath.Join(dir, "seg.dcm")
	}
	sc, err := filepath.Glob(filepath.Join(dir, "sc-*.dcm"))
	if err != nil {
		return f, err
	}
	slices.Sort(sc)
	f.SC = sc
	return f, nil
}

// runJobs runs ready jobs, oldest first, until ctx ends.
func (p *pipeline) runJobs(ctx context.Context) {
	for {
		for ctx.Err() == nil {
			j, ok, err := p.nextReady()
			if err != nil {
				p.log.Error("pipeline: read jobs", "err", err)
				break
			}
			if !ok {
				break
			}
			p.process(ctx, j)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.work:
		}
	}
}

func (p *pipeline) nextReady() (cache.Job, bool, error) {
	var out cache.Job
	found := false
	err := p.store.View(func(tx *cache.Tx) error {
		return tx.Jobs(func(j cache.Job) error {
			if !found && j.State == cache.JobReady {
				out, found = j, true
			}
			return nil
		})
	})
	return out, found, err
}

// process runs one ready job through analysis and queues its results.
func (p *pipeline) process(ctx context.Context, j cache.Job) {
	var err error
	if err = p.store.Update(func(tx *cache.Tx) error {
		j, err = tx.SetJobState(j.ID, cache.JobRunning, "analysis started", nil)
		return err
	}); err != nil {
		p.log.Error("pipeline: cannot start job", "job", j.ID, "err", err)
		return
	}
	p.log.Info("pipeline: analysis started", "job", j.ID, "generation", j.Generation, "rule", j.Rule)
	p.emit(JobEvent{Job: j.ID, State: cache.JobRunning})
	if p.panel != nil {
		p.panel.Processing()
	}
	dir := p.jobDir(j.ID)
	if err := os.RemoveAll(dir); err != nil {
		p.fail(j.ID, cache.JobFailed, fmt.Sprintf("cannot clear the results folder: %v", err))
		return
	}
	t0 := time.Now()
	res, err := p.an.Run(ctx, p.store, j, dir)
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: run it again at the next start.
			_ = p.store.Update(func(tx *cache.Tx) error {
				_, err := tx.SetJobState(j.ID, cache.JobReady, "daemon stopped during analysis; will run again", nil)
				return err
			})
			return
		}
		p.log.Error("pipeline: analysis failed", "job", j.ID, "err", err)
		if p.panel != nil {
			p.panel.SetFault(panel.FaultInference, true)
		}
		p.fail(j.ID, cache.JobFailed, "analysis failed: "+err.Error())
		return
	}
	if p.panel != nil {
		p.panel.SetFault(panel.FaultInference, false)
		p.panel.Result(len(res.Lesions))
	}
	reason := fmt.Sprintf("%d lesion(s), %s; results written (SEG %v, SR, %d SC) in %.1f s", len(res.Lesions), res.Mode,
		res.Files.SEG != "", len(res.Files.SC), time.Since(t0).Seconds())
	if err := p.store.Update(func(tx *cache.Tx) error {
		j, err = tx.SetJobState(j.ID, cache.JobReported, reason, nil)
		return err
	}); err != nil {
		p.log.Error("pipeline: cannot record results", "job", j.ID, "err", err)
		return
	}
	p.log.Info("pipeline: study analysed", "job", j.ID, "lesions", len(res.Lesions), "mode", string(res.Mode),
		"load_s", round1(res.LoadSeconds), "detect_s", round1(res.DetectSeconds), "report_s", round1(res.ReportSeconds))
	for _, l := range res.Lesions {
		p.log.Info("pipeline: lesion", "job", j.ID, "number", l.Number, "long_axis_mm", round1(l.LongestDiameterMM),
			"volume_mm3", round1(l.VolumeMM3), "location", l.Location.String(), "score", math.Round(l.MaxProb*1000)/1000)
	}
	p.emit(JobEvent{Job: j.ID, State: cache.JobReported, Lesions: len(res.Lesions), Mode: res.Mode, Reason: reason})
	if err := p.enqueue(j, res.Files); err != nil {
		p.log.Error("pipeline: cannot queue results", "job", j.ID, "err", err)
	}
	poke(p.send)
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }

// enqueue queues a job's results for the destinations (all, or only those
// named); a job no destination takes is delivered at once.
func (p *pipeline) enqueue(j cache.Job, files report.Files, only ...string) error {
	ids, err := p.ob.EnqueueRef(strconv.FormatUint(j.ID, 10), j.StudyInstanceUID, strconv.Itoa(j.Generation), files, only...)
	if err != nil {
		return err
	}
	if len(ids) == 0 && len(only) == 0 {
		return p.store.Update(func(tx *cache.Tx) error {
			_, err := tx.SetJobState(j.ID, cache.JobDelivered, "no destination takes these results", nil)
			return err
		})
	}
	return nil
}

// fail ends a job in a terminal state with its reason.
func (p *pipeline) fail(id uint64, state, reason string) {
	err := p.store.Update(func(tx *cache.Tx) error {
		_, err := tx.SetJobState(id, state, reason, nil)
		return err
	})
	if err != nil {
		p.log.Error("pipeline: cannot record job state", "job", id, "state", state, "err", err)
		return
	}
	p.emit(JobEvent{Job: id, State: state, Reason: reason})
}

// persist records an outbox job in the cache and, when every delivery of
// its cache job has ended, ends the cache job in the same transaction.
func (p *pipeline) persist(oj outbox.Job) error {
	id, err := strconv.ParseUint(oj.Ref, 10, 64)
	if err != nil {
		return fmt.Errorf("daemon: outbox job %s has no cache job reference", oj.ID)
	}
	body, err := json.Marshal(oj)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d := cache.Delivery{ID: oj.ID, JobID: id, Destination: oj.Destination, State: string(oj.State), Body: body}
	for _, f := range oj.Files {
		if rel, err := filepath.Rel(p.store.Dir(), f.Path); err == nil && !strings.HasPrefix(rel, "..") {
			d.Files = append(d.Files, filepath.ToSlash(rel))
		}
	}
	var ev *JobEvent
	err = p.store.Update(func(tx *cache.Tx) error {
		if err := tx.PutDelivery(d); err != nil {
			return err
		}
		var err error
		ev, err = settleTx(tx, id)
		return err
	})
	if err != nil {
		return err
	}
	p.networkFault(oj)
	if ev != nil {
		p.emit(*ev)
		if p.panel != nil && ev.State == cache.JobDead {
			p.panel.SetFault(panel.FaultDelivery, true)
		}
	}
	return nil
}

// settle ends a reported job whose deliveries have all ended.
func (p *pipeline) settle(id uint64) error {
	var ev *JobEvent
	err := p.store.Update(func(tx *cache.Tx) error {
		var err error
		ev, err = settleTx(tx, id)
		return err
	})
	if ev != nil {
		p.emit(*ev)
	}
	return err
}

// settleTx moves a reported job to delivered, dead or superseded once none
// of its deliveries is pending: dead when one was dead-lettered, superseded
// when newer results replaced all of them, else delivered.
func settleTx(tx *cache.Tx, id uint64) (*JobEvent, error) {
	j, ok, err := tx.Job(id)
	if err != nil || !ok || j.State != cache.JobReported {
		return nil, err
	}
	ds, err := tx.JobDeliveries(id)
	if err != nil {
		return nil, err
	}
	var dead, superseded, delivered []string
	for _, d := range ds {
		switch outbox.State(d.State) {
		case outbox.Pending:
			return nil, nil
		case outbox.Dead:
			var oj outbox.Job
			_ = json.Unmarshal(d.Body, &oj)
			dead = append(dead, d.Destination+": "+oj.LastError)
		case outbox.Superseded:
			superseded = append(superseded, d.Destination)
		default:
			delivered = append(delivered, d.Destination)
		}
	}
	state, reason := cache.JobDelivered, "delivered to "+strings.Join(delivered, ", ")
	switch {
	case len(dead) > 0:
		state, reason = cache.JobDead, "not delivered: "+strings.Join(dead, "; ")
	case len(delivered) == 0 && len(superseded) > 0:
		state, reason = cache.JobSuperseded, "newer results of the same study replaced these before delivery"
	}
	if _, err := tx.SetJobState(id, state, reason, nil); err != nil {
		return nil, err
	}
	return &JobEvent{Job: id, State: state, Reason: reason}, nil
}

// runOutbox makes the delivery attempts that are due until ctx ends.
func (p *pipeline) runOutbox(ctx context.Context) {
	for {
		p.ob.RunDue(ctx)
		var timer *time.Timer
		var due <-chan time.Time
		if next, ok := p.ob.NextDue(); ok {
			timer = time.NewTimer(max(time.Until(next), 0))
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-p.send:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}
