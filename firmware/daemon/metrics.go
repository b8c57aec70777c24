package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"metsentry/firmware/cache"
)

// Stage names of the metsentry_stage_seconds histogram: the spans between
// a study's last image, its completeness decision, the end of analysis
// (the panel shows the result) and the PACS acknowledging the results.
const (
	StageComplete     = "last_image_to_complete"
	StageAnalysed     = "complete_to_analysed"
	StageAcknowledged = "analysed_to_acknowledged"
	StageFlag         = "last_image_to_flag" // the time-to-flag the technologist sees
	StageTotal        = "last_image_to_acknowledged"
)

// stageBuckets span a fast box (a second) to a slow delivery (half an
// hour), in seconds.
var stageBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}

// Metrics is the daemon's Prometheus registry: counters of studies
// received, analysed, delivered and failed; each study's stage times as
// histograms; gauges for the queues, disk, temperature and the provider in
// use. It is fed by the pipeline's job events (Intake.Metrics) and reads
// the cache when scraped. Safe for concurrent use.
type Metrics struct {
	// Registry holds every metsentry metric (and Go's process metrics).
	Registry *prometheus.Registry
	// Temperature reads the hottest thermal zone; nil when the board has none.
	Temperature func() (float64, error)

	intake                        *Intake
	received, analysed, delivered prometheus.Counter
	failed                        *prometheus.CounterVec
	stages                        *prometheus.HistogramVec
	readyJobs, pending, dead      prometheus.Gauge
	diskFree, temperature         prometheus.Gauge
	provider                      *prometheus.GaugeVec

	mu       sync.Mutex
	since    time.Time
	auditSeq uint64 // next audit event to read
	jobs     map[uint64]*jobTimes
	replays  map[uint64]bool
}

// jobTimes are the stamps of one job seen so far.
type jobTimes struct {
	lastImage, complete, analysed time.Time
}

// NewMetrics returns the metrics of an intake service (it sets s.Metrics).
func NewMetrics(s *Intake) *Metrics {
	m := &Metrics{intake: s, Registry: prometheus.NewRegistry(), since: time.Now(),
		jobs: map[uint64]*jobTimes{}, replays: map[uint64]bool{}}
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "metsentry", Name: name, Help: help}
	}
	m.received = prometheus.NewCounter(prometheus.CounterOpts(f("studies_received_total", "Studies whose first instance was received (a reopening by late instances counts again).")))
	m.analysed = prometheus.NewCounter(prometheus.CounterOpts(f("studies_analysed_total", "Jobs analysed with results written (the panel shows the result).")))
	m.delivered = prometheus.NewCounter(prometheus.CounterOpts(f("studies_delivered_total", "Jobs whose results every destination acknowledged.")))
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts(f("studies_failed_total", "Jobs that failed: stage analysis (no result) or delivery (dead-lettered).")), []string{"stage"})
	m.stages = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "metsentry", Name: "stage_seconds",
		Help:    "Seconds between a study's steps: last image, complete, analysed (flag shown), acknowledged by the PACS.",
		Buckets: stageBuckets}, []string{"stage"})
	m.readyJobs = prometheus.NewGauge(prometheus.GaugeOpts(f("jobs_queued", "Jobs ready or running (waiting for or in analysis).")))
	m.pending = prometheus.NewGauge(prometheus.GaugeOpts(f("outbox_pending", "Result deliveries waiting in the outbox.")))
	m.dead = prometheus.NewGauge(prometheus.GaugeOpts(f("outbox_dead", "Result deliveries dead-lettered (need an engineer).")))
	m.diskFree = prometheus.NewGauge(prometheus.GaugeOpts(f("disk_free_bytes", "Free bytes on the cache file system.")))
	m.temperature = prometheus.NewGauge(prometheus.GaugeOpts(f("temperature_celsius", "Hottest thermal zone (NaN when none can be read).")))
	m.provider = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("inference_info", "1 for the inference provider and model in use.")), []string{"provider", "model"})
	m.Registry.MustRegister(m.received, m.analysed, m.delivered, m.failed, m.stages, m.readyJobs, m.pending, m.dead,
		m.diskFree, m.temperature, m.provider, collectors.NewGoCollector())
	for _, st := range []string{"analysis", "delivery"} {
		m.failed.WithLabelValues(st)
	}
	s.Metrics = m
	return m
}

// replayed marks a job as a replay: its stage times would measure the age
// of the study, not the box, so they are left out.
func (m *Metrics) replayed(job uint64) {
	m.mu.Lock()
	m.replays[job] = true
	m.mu.Unlock()
}

// observe counts one job event and records its stage times.
func (m *Metrics) observe(e JobEvent) {
	store, _ := m.intake.live.get()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.jobs[e.Job]
	switch e.State {
	case cache.JobRunning:
		if m.replays[e.Job] {
			break // a replay's times are the study's age, not the box's speed
		}
		t = &jobTimes{}
		m.jobs[e.Job] = t
		if store != nil {
			t.lastImage, t.complete = seriesTimes(store, e.Job)
			if span(t.lastImage, t.complete) >= 0 {
				m.stages.WithLabelValues(StageComplete).Observe(span(t.lastImage, t.complete))
			}
		}
	case cache.JobReported:
		m.analysed.Inc()
		if t == nil {
			return
		}
		t.analysed = e.At
		if d := span(t.complete, e.At); d >= 0 {
			m.stages.WithLabelValues(StageAnalysed).Observe(d)
		}
		if d := span(t.lastImage, e.At); d >= 0 {
			m.stages.WithLabelValues(StageFlag).Observe(d)
		}
	case cache.JobDelivered:
		m.delivered.Inc()
		if t != nil {
			if d := span(t.analysed, e.At); d >= 0 {
				m.stages.WithLabelValues(StageAcknowledged).Observe(d)
			}
			if d := span(t.lastImage, e.At); d >= 0 {
				m.stages.WithLabelValues(StageTotal).Observe(d)
			}
		}
	case cache.JobFailed:
		m.failed.WithLabelValues("analysis").Inc()
	case cache.JobDead:
		m.failed.WithLabelValues("delivery").Inc()
	}
	if cache.Terminal(e.State) {
		delete(m.jobs, e.Job)
		delete(m.replays, e.Job)
	}
}

// span is b-a in seconds, or -1 when either is unknown.
func span(a, b time.Time) float64 {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return -1
	}
	return b.Sub(a).Seconds()
}

// seriesTimes is the last image received and the latest completeness
// decision of a job's selected series.
func seriesTimes(store *cache.Store, job uint64) (last, complete time.Time) {
	_ = store.View(func(tx *cache.Tx) error {
		j, ok, err := tx.Job(job)
		if err != nil || !ok {
			return err
		}
		for _, sel := range j.Series {
			s, ok, err := tx.Series(j.StudyInstanceUID, sel.SeriesInstanceUID)
			if err != nil || !ok {
				return err
			}
			if s.LastAt.After(last) {
				last = s.LastAt
			}
			if s.CompleteAt.After(complete) {
				complete = s.CompleteAt
			}
		}
		return nil
	})
	return last, complete
}

// refresh brings the counters read from the cache and the gauges up to date.
func (m *Metrics) refresh() {
	s := m.intake
	m.provider.Reset()
	if a := s.Analyzer; a != nil && a.Model != nil && a.Model.Engine != nil && a.Model.Manifest != nil {
		m.provider.WithLabelValues(a.Model.Engine.Provider(), a.Model.Manifest.Name+" "+a.Model.Manifest.Version).Set(1)
	}
	if m.Temperature != nil {
		if c, err := m.Temperature(); err == nil {
			m.temperature.Set(c)
		} else {
			m.temperature.Set(math.NaN())
		}
	} else {
		m.temperature.Set(math.NaN())
	}
	store, _ := s.live.get()
	if store == nil {
		return
	}
	if du, err := store.Disk(); err == nil {
		m.diskFree.Set(float64(du.Free))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var ready, pending, dead int
	_ = store.View(func(tx *cache.Tx) error {
		if err := tx.AuditEvents(m.auditSeq, func(e cache.AuditEvent) error {
			if e.Kind == "study-new" && !e.At.Before(m.since) {
				m.received.Inc()
			}
			m.auditSeq = e.Seq + 1
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Jobs(func(j cache.Job) error {
			if j.State == cache.JobReady || j.State == cache.JobRunning {
				ready++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Deliveries(func(d cache.Delivery) error {
			switch d.State {
			case "pending":
				pending++
			case "dead":
				dead++
			}
			return nil
		})
	})
	m.readyJobs.Set(float64(ready))
	m.pending.Set(float64(pending))
	m.dead.Set(float64(dead))
}

// Gatherer is the registry, brought up to date at each gathering.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		m.refresh()
		return m.Registry.Gather()
	})
}

// WriteText writes every metric in Prometheus text format (for diag).
func (m *Metrics) WriteText(w io.Writer) error {
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		return fmt.Errorf("daemon: metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("daemon: metrics: %w", err)
		}
	}
	return nil
}

// Handler serves the metrics at any path (the service mounts /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// MetricsService serves the Prometheus endpoint at Addr/metrics.
type MetricsService struct {
	Metrics *Metrics
	Addr    string
	Log     *slog.Logger
	// Listening, when set, is told the bound address (tests listen on :0).
	Listening func(addr string)
}

// Name implements Service.
func (*MetricsService) Name() string { return "metrics" }

// Run implements Service. A listen failure is logged, not fatal: the box
// still does its job without its status endpoint.
func (s *MetricsService) Run(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		log.Error("status endpoint not started (set status.listen in the site file to a free address)", "addr", s.Addr, "err", err)
		<-ctx.Done()
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("status endpoint listening", "url", "http://"+ln.Addr().String()+"/metrics")
	if s.Listening != nil {
		s.Listening(ln.Addr().String())
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck // closing anyway
	})
	defer stop()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("daemon: status endpoint: %w", err)
	}
	return nil
}

// events is the pipeline's event hook: the metrics first, then Events.
func (s *Intake) events() func(JobEvent) {
	m, next := s.Metrics, s.Events
	if m == nil {
		return next
	}
	return func(e JobEvent) {
		m.observe(e)
		if next != nil {
			next(e)
		}
	}
}
