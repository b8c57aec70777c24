package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/control"
	"metsentry/firmware/dimse"
)

// ErrNotStarted is answered to a control request that needs the cache
// before the intake service has opened it (or after it stopped).
var ErrNotStarted = errors.New("daemon: the intake service is not running yet (the cache is not open); try again in a few seconds")

// live is what the running intake service shares with the control socket
// and the metrics: its open cache and pipeline (nil when stopped).
type live struct {
	mu    sync.Mutex
	store *cache.Store
	pl    *pipeline
}

func (l *live) set(store *cache.Store, pl *pipeline) {
	l.mu.Lock()
	l.store, l.pl = store, pl
	l.mu.Unlock()
}

func (l *live) get() (*cache.Store, *pipeline) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store, l.pl
}

// Control is the control socket service (firmware/control) that
// tools/metctl talks to: status, C-ECHO of a destination, a destination's
// address for metctl send, replay of a study, the diagnostics bundle and
// the self-test. It reads the intake service's cache and pipeline.
type Control struct {
	Intake *Intake
	// Path is the socket; "" means control.SocketPath of the board's data
	// folder.
	Path string
	// Version is the firmware version shown by status and diag.
	Version string
	// Temperature reads the hottest thermal zone; nil when the board has none.
	Temperature func() (float64, error)
	// Logs holds the recent log lines diag collects; may be nil.
	Logs *LogRing
	// Metrics, when set, is included in diag and told of replays.
	Metrics *Metrics
	// ConfigFiles are the board and site files diag copies, by the name
	// they get in the bundle (e.g. "site.yaml").
	ConfigFiles map[string]string
	// Selftest runs the built-in phantom study through the model, opened
	// again from its files; nil means this daemon has no model.
	Selftest func(ctx context.Context) (control.Selftest, error)
	// Install installs a signed update bundle (firmware/update), telling
	// progress each step; nil means this daemon cannot install.
	Install func(ctx context.Context, bundle string, progress func(step string)) (control.Install, error)
	// Restart, when set, is called once a passed install's reply has been
	// sent (the reply says so): the daemon stops, and systemd starts it
	// again from the new slot. Nil leaves the restart to the field engineer.
	Restart func()
	// Dialer opens the C-ECHO association (zero value: plain TCP).
	Dialer dimse.Dialer
	Log    *slog.Logger
	// Now stamps the diagnostics bundle (default time.Now).
	Now func() time.Time

	// started is when Run began (the service console reads it from its
	// own goroutine).
	started atomic.Pointer[time.Time]
	// installing is held while an install runs, selftesting while a
	// self-test does: one of each at a time (each opens a second model).
	installing, selftesting sync.Mutex
}

// Name implements Service.
func (*Control) Name() string { return "control" }

// SocketPath is where the control socket listens.
func (c *Control) SocketPath() string {
	if c.Path != "" {
		return c.Path
	}
	return control.SocketPath(c.Intake.Board.Storage.DataDir)
}

// Run implements Service: it serves the socket until ctx ends. The socket
// file is removed on a clean stop. A socket that cannot be made is logged,
// not fatal: the box still does its job without metctl.
func (c *Control) Run(ctx context.Context) error {
	log := c.logger()
	now := c.now()
	c.started.Store(&now)
	path := c.SocketPath()
	ln, err := control.Listen(path)
	if err != nil {
		log.Error("control socket not started: metctl cannot reach this daemon", "path", path, "err", err)
		<-ctx.Done()
		return nil
	}
	log.Info("control socket listening", "path", path)
	return control.Serve(ctx, ln, c.handle, log)
}

func (c *Control) logger() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

func (c *Control) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Control) handle(ctx context.Context, req control.Request, w *control.Writer) (any, error) {
	nargs := map[string]int{control.CmdStatus: 0, control.CmdEcho: 1, control.CmdDestination: 1,
		control.CmdReplay: 1, control.CmdDiag: 0, control.CmdSelftest: 0, control.CmdModelInstall: 1}
	n, ok := nargs[req.Cmd]
	if !ok {
		return nil, fmt.Errorf("daemon: unknown control command %q (this daemon knows status, echo, destination, replay, diag, selftest, model-install)", req.Cmd)
	}
	if len(req.Args) != n {
		return nil, fmt.Errorf("daemon: %s takes %d argument(s), got %d", req.Cmd, n, len(req.Args))
	}
	switch req.Cmd {
	case control.CmdStatus:
		return c.status()
	case control.CmdEcho:
		return c.echo(ctx, req.Args[0])
	case control.CmdDestination:
		d, err := c.destination(req.Args[0])
		if err != nil {
			return nil, err
		}
		return control.Destination{Name: d.Name, AETitle: d.AETitle, Host: d.Host, Port: d.Port, CallingAE: c.Intake.Site.AETitle}, nil
	case control.CmdReplay:
		return c.replay(req.Args[0])
	case control.CmdDiag:
		return c.diag(w)
	case control.CmdSelftest:
		return c.selftest(ctx, func() {
			w.Text("running the built-in phantom study through the model (opened again from its files)")
		})
	case control.CmdModelInstall:
		if c.Install == nil {
			return nil, errors.New("daemon: this daemon cannot install bundles (no trust store or data folder for the slots)")
		}
		if !c.installing.TryLock() {
			return nil, errors.New("daemon: an install is already running; wait for it to end")
		}
		defer c.installing.Unlock()
		step := int64(0)
		res, err := c.Install(ctx, req.Args[0], func(s string) {
			step++
			w.Progress(step, 4, s) // verify, unpack, switch, self-test (then roll back, if it failed)
		})
		if err != nil {
			return nil, err
		}
		if c.Restart != nil {
			res.Restart = true
			w.AfterReply(c.Restart)
		}
		return res, nil
	}
	return nil, nil
}

// startedAt is when Run began (zero before).
func (c *Control) startedAt() time.Time {
	if t := c.started.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// status gathers the daemon's state.
func (c *Control) status() (control.Status, error) {
	s := c.Intake
	st := control.Status{Version: c.Version, Board: s.Board.Name, AETitle: s.Site.AETitle, Started: c.startedAt(),
		Jobs: map[string]int{}, Outbox: map[string]int{}}
	for _, d := range s.Site.Destinations {
		st.Destinations = append(st.Destinations, fmt.Sprintf("%s (%s@%s:%d)", d.Name, d.AETitle, d.Host, d.Port))
	}
	if s.Site.Status.Listen != "" && c.Metrics != nil {
		st.StatusAddr = s.Site.Status.Listen
	}
	if a := s.Analyzer; a != nil && a.Model != nil {
		if m := a.Model.Manifest; m != nil {
			st.Model = fmt.Sprintf("%s %s (%s)", m.Name, m.Version, m.Precision)
		}
		if a.Model.Engine != nil {
			st.Provider = a.Model.Engine.Provider()
		}
	}
	if c.Temperature != nil {
		if t, err := c.Temperature(); err != nil {
			st.TemperatureErr = err.Error()
		} else {
			st.TemperatureC = &t
		}
	}
	if err := s.Fault(); err != nil {
		st.Faults = append(st.Faults, err.Error())
	}
	store, _ := s.live.get()
	if store == nil {
		return st, ErrNotStarted
	}
	if du, err := store.Disk(); err == nil {
		st.DiskFree, st.DiskTotal = du.Free, du.Total
	} else {
		st.Faults = append(st.Faults, err.Error())
	}
	err := store.View(func(tx *cache.Tx) error {
		if err := tx.Jobs(func(j cache.Job) error { st.Jobs[j.State]++; return nil }); err != nil {
			return err
		}
		return tx.Deliveries(func(d cache.Delivery) error { st.Outbox[d.State]++; return nil })
	})
	return st, err
}

// selftest runs Selftest, one at a time (the control socket and the
// service console share it); started, when not nil, is called once the
// test begins.
func (c *Control) selftest(ctx context.Context, started func()) (control.Selftest, error) {
	if c.Selftest == nil {
		return control.Selftest{}, errors.New("daemon: this daemon has no self-test (it was started without a model)")
	}
	if !c.selftesting.TryLock() {
		return control.Selftest{}, errors.New("daemon: a self-test is already running; wait for it to end")
	}
	defer c.selftesting.Unlock()
	if started != nil {
		started()
	}
	return c.Selftest(ctx)
}

// destination finds a destination of the site by name.
func (c *Control) destination(name string) (config.Destination, error) {
	var names []string
	for _, d := range c.Intake.Site.Destinations {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return config.Destination{}, fmt.Errorf("daemon: no destination %q in the site file (it has: %s)", name, strings.Join(names, ", "))
}

// echo makes a C-ECHO from the box to a destination.
func (c *Control) echo(ctx context.Context, name string) (control.Echo, error) {
	d, err := c.destination(name)
	if err != nil {
		return control.Echo{}, err
	}
	addr := net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	res := control.Echo{Destination: d.Name, Address: addr, AETitle: d.AETitle}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	a, err := c.Dialer.Dial(ctx, addr, c.Intake.Site.AETitle, d.AETitle, dimse.VerificationContext())
	if err != nil {
		return res, fmt.Errorf("daemon: C-ECHO %s (%s@%s) as %s: %w", d.Name, d.AETitle, addr, c.Intake.Site.AETitle, err)
	}
	if err := a.Echo(ctx); err != nil {
		a.Abort()
		return res, fmt.Errorf("daemon: C-ECHO %s (%s@%s): %w", d.Name, d.AETitle, addr, err)
	}
	res.Elapsed = time.Since(t0)
	_ = a.Release(ctx)
	return res, nil
}

// studyHash is how a study appears in the control socket's answers and in
// diagnostics: a truncated hash of its UID.
func studyHash(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return hex.EncodeToString(h[:6])
}

// replay queues a study again: a new ready job with the series of the
// study's latest job that selected any (what is given: a Study Instance
// UID or a job id). Result UIDs derive from the study and the model, so
// the new results replace the old ones at the PACS.
func (c *Control) replay(what string) (control.Replay, error) {
	store, pl := c.Intake.live.get()
	if store == nil {
		return control.Replay{}, ErrNotStarted
	}
	if pl == nil {
		return control.Replay{}, errors.New("daemon: this daemon has no model: it cannot analyse a study again")
	}
	var out control.Replay
	err := store.Update(func(tx *cache.Tx) error {
		study := what
		if id, err := strconv.ParseUint(what, 10, 64); err == nil {
			j, ok, err := tx.Job(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("daemon: no job %d in the cache", id)
			}
			study = j.StudyInstanceUID
		}
		if _, ok, err := tx.Study(study); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("daemon: study %s is not in the cache (never received, or purged by retention)", studyHash(study))
		}
		var src cache.Job
		busy := uint64(0)
		if err := tx.Jobs(func(j cache.Job) error {
			if j.StudyInstanceUID != study {
				return nil
			}
			if len(j.Series) > 0 {
				src = j
			}
			if !cache.Terminal(j.State) && j.State != cache.JobWaiting {
				busy = j.ID
			}
			return nil
		}); err != nil {
			return err
		}
		if busy != 0 {
			return fmt.Errorf("daemon: job %d of this study is still in progress; replay it once it has ended", busy)
		}
		if src.ID == 0 {
			return fmt.Errorf("daemon: no series of study %s was ever selected for analysis (see metctl rules test)", studyHash(study))
		}
		j, err := tx.NewJob(cache.Job{StudyInstanceUID: study, Generation: src.Generation, State: cache.JobReady,
			Rule: src.Rule, Series: src.Series, Reason: fmt.Sprintf("replay of job %d requested with metctl", src.ID)})
		if err != nil {
			return err
		}
		out = control.Replay{Job: j.ID, FromJob: src.ID, StudyHash: studyHash(study)}
		return tx.Audit(cache.AuditEvent{Kind: "replay", Study: study, JobID: j.ID, Msg: fmt.Sprintf("job %d ready: replay of job %d", j.ID, src.ID)})
	})
	if err != nil {
		return control.Replay{}, err
	}
	if c.Metrics != nil {
		c.Metrics.replayed(out.Job)
	}
	c.logger().Info("control: replay queued", "job", out.Job, "from_job", out.FromJob, "study", out.StudyHash)
	pl.Ready()
	return out, nil
}
