package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/dimse"
	"metsentry/firmware/intake"
	"metsentry/firmware/outbox"
)

// Intake is the receiving half of the appliance as one Service: it opens the
// cache in the board's data folder (recovering from a crash), serves the
// DICOM SCP on the site's address into it, runs intake's completeness and
// selection, and applies retention.
type Intake struct {
	Site  *config.Site
	Board *config.Board
	Log   *slog.Logger
	// RetentionEvery is the period of retention passes (default 10 min).
	RetentionEvery time.Duration
	// Analyzer, when set, runs every ready job (firmware/analyze) and the
	// outbox delivers the results to the site's destinations; nil leaves
	// ready jobs waiting (a daemon started without a model).
	Analyzer *analyze.Analyzer
	// Sender delivers results; nil means C-STORE over firmware/dimse.
	Sender outbox.Sender
	// Policy is the delivery retry schedule; zero means
	// outbox.DefaultPolicy.
	Policy outbox.Policy
	// Panel, when set, shows receiving, analysing, the result and faults.
	Panel Panel
	// Events, when set, is told every job step (tests, the console).
	Events func(JobEvent)
	// Metrics, when set, counts every job step (metrics.go; NewMetrics).
	Metrics *Metrics

	live  live // the open cache and pipeline, for the control socket (control.go)
	mu    sync.Mutex
	fault error
}

// NewIntake returns the intake service for a site and board.
func NewIntake(site *config.Site, board *config.Board, log *slog.Logger) *Intake {
	return &Intake{Site: site, Board: board, Log: log}
}

// Name implements Service.
func (*Intake) Name() string { return "intake" }

// Fault returns the disk fault the panel shows (free space below the low
// watermark, so new instances are refused with A700), or nil.
func (s *Intake) Fault() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

// Run implements Service.
func (s *Intake) Run(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	rt := s.Site.Retention
	// Instances are recorded in batches (cache.Options.IndexDelay); intake
	// looks at them once their batch is committed.
	var indexed atomic.Pointer[func()]
	store, err := s.openCache(ctx, log, cache.Options{ // standby.go: waits out a lock
		MinFreeBytes: uint64(rt.MinFreeMB) << 20, Logger: log,
		IndexDelay: s.Board.Storage.IndexDelayOrDefault(),
		Indexed: func() {
			if f := indexed.Load(); f != nil {
				(*f)()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("daemon: cache: %w", err)
	}
	defer store.Close()
	if r := store.Recovered(); r.String() != "nothing to recover" {
		log.Warn("cache recovered after an unclean stop", "summary", r.String())
	}

	cfg, err := intake.ConfigFromSite(s.Site)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	in := intake.New(store, cfg, intake.SystemClock{}, log)
	var pl *pipeline
	if s.Analyzer != nil {
		sender, pol := s.Sender, s.Policy
		if sender == nil {
			sender = &outbox.DimseSender{CallingAE: s.Site.AETitle}
		}
		if pol == (outbox.Policy{}) {
			pol = outbox.DefaultPolicy
		}
		if pl, err = newPipeline(store, s.Analyzer, s.Site.Destinations, sender, pol, log, s.Panel, s.events()); err != nil {
			return err
		}
		if err := pl.restore(); err != nil {
			return fmt.Errorf("daemon: restore the outbox: %w", err)
		}
		in.Ready = pl.Ready
	} else {
		log.Warn("no model given: studies are received and selected, but ready jobs wait for a daemon with a model")
	}
	s.live.set(store, pl)
	defer s.live.set(nil, nil)
	wake := in.Wake
	indexed.Store(&wake)
	var stored func()
	if s.Panel != nil {
		stored = s.Panel.Receiving
	}
	// A clean release is when intake judges a series complete by its
	// count or geometry: every instance acknowledged on the association
	// must be in the index it reads by then, and the release is recorded
	// after them. Any other end (an abort, a refused instance) is a cut:
	// a count-less series it fed last waits for a resend.
	ended := func(e dimse.AssociationEnd) {
		remote := e.Remote.String()
		if e.Stored+e.Refused == 0 {
			return // a C-ECHO or an MPPS: no series to judge
		}
		if !e.Released || e.Refused > 0 {
			in.Cut(remote)
			return
		}
		if err := store.Flush(); err != nil {
			// Judging by the release would see part of what was sent.
			log.Error("cache: recording the released association's instances failed", "err", err)
			in.Cut(remote)
			return
		}
		if err := in.Released(remote); err != nil {
			log.Error("intake: the release was not recorded; its series wait for a resend or max_wait", "err", err)
		}
	}

	pol, err := dimse.PolicyFromConfig(s.Site, s.Board)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	// The console's MPPS, where it sends one, is the strongest signal: a
	// series it lists starts once every instance listed is stored. Steps
	// completed before a restart still count for as long as intake waits.
	maxWait := cfg.MaxWait
	if maxWait <= 0 {
		maxWait = config.DefaultMaxWait
	}
	mpps, err := newSteps(store, func(series map[string][]string) {
		if err := store.Flush(); err != nil {
			log.Error("cache: recording received instances failed", "err", err)
		}
		in.Performed(series)
	}, maxWait+time.Hour, time.Now, log)
	if err != nil {
		return err
	}
	// A release lets intake call a series complete by its count or its
	// slice positions at once, without the quiet period.
	srv := &dimse.Server{Policy: pol, Storage: &cacheStorage{store: store, stored: stored}, Logger: log,
		Ended: ended, Steps: mpps}
	addr := net.JoinHostPort(s.Site.Bind, strconv.Itoa(s.Site.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("daemon: listen on %s: %w", addr, err)
	}
	log.Info("DICOM SCP listening", "addr", ln.Addr().String(), "ae_title", s.Site.AETitle)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, dimse.ErrServerClosed) && ctx.Err() == nil {
			errc <- fmt.Errorf("daemon: SCP: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := in.Run(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		s.retention(ctx, store, log)
	}()
	if pl != nil {
		wg.Add(2)
		go func() { defer wg.Done(); pl.runJobs(ctx) }()
		go func() { defer wg.Done(); pl.runOutbox(ctx) }()
	}
	<-ctx.Done()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	srv.Shutdown(sctx) //nolint:errcheck // remaining associations are aborted
	scancel()
	wg.Wait()
	close(errc)
	return <-errc
}

// retention purges by age and watermark, and keeps the disk fault current.
func (s *Intake) retention(ctx context.Context, store *cache.Store, log *slog.Logger) {
	every := s.RetentionEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	rt := s.Site.Retention
	pol := cache.Retention{MaxAge: time.Duration(rt.MaxAgeDays) * 24 * time.Hour, HighWatermark: float64(rt.HighWatermarkPercent) / 100}
	// The disk fault is checked more often than retention runs: statfs is
	// cheap and the panel should turn red soon after the disk fills.
	t := time.NewTicker(min(every, 30*time.Second))
	defer t.Stop()
	var last time.Time
	for {
		if time.Since(last) >= every {
			last = time.Now()
			if res, err := store.Purge(pol); err != nil {
				log.Error("retention", "err", err)
			} else if len(res.Studies) > 0 || res.Kept > 0 {
				log.Info("retention", "purged_studies", len(res.Studies), "files", res.Files, "bytes", res.Bytes, "kept_undelivered", res.Kept)
			}
		}
		err := store.CheckSpace()
		s.mu.Lock()
		s.fault = err
		s.mu.Unlock()
		if err != nil {
			log.Error("disk fault: new instances are refused (A700)", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
