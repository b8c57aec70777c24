package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"metsentry/firmware/cache"
	"metsentry/firmware/panel"
	"metsentry/firmware/panel/console"
	"metsentry/hal/clock"
	"metsentry/hal/serial"
	"metsentry/hal/thermal"
)

// DefaultConsoleRetry is how often ConsoleService tries again to open a
// console port that is missing or refused (a cable plugged in later works).
const DefaultConsoleRetry = 30 * time.Second

// consoleReopen is the pause before a port whose session ended (the far
// end hung up, a read failed) is opened again.
const consoleReopen = time.Second

// ConsoleService serves the field engineer's service console
// (firmware/panel/console) on the board's serial.console port for the
// daemon's whole life. Its facts come from the control socket's own
// answers (Control: status, C-ECHO, the self-test), so `status` on the
// console and `metctl status` never disagree. The console is not essential
// to the job: a port that cannot be opened is logged once and tried again
// every Retry, and a session that fails or hangs up is ended and the port
// opened again; neither touches the other services.
type ConsoleService struct {
	// Control answers status, echo and selftest; its Intake gives the site
	// and board. Required.
	Control *Control
	// Open opens the port (serial.Open in production).
	Open serial.Opener
	// Panel, when set, is shown in status (the panel state and its link).
	Panel *PanelService
	// Ring holds the recent log lines, redacted, for `log`; it must be in
	// the daemon's slog handler chain. Nil: log is unavailable.
	Ring *console.Ring
	// Slot is the update slot this daemon runs from ("" for the packaged
	// release), shown by version.
	Slot string
	// Runtime describes the inference runtime for version ("" when unknown).
	Runtime func() string
	// Net lists the network interfaces (console.SystemNet); nil: unavailable.
	Net func() ([]console.Interface, error)
	// Temp reads the thermal zones; nil gives an empty reading on a board
	// without zones, and "not available" on one with zones.
	Temp func() thermal.Reading
	// Reboot restarts the appliance; nil refuses with the reason in
	// RebootRefusal.
	Reboot func() error
	// RebootRefusal says why reboot is refused when Reboot is nil.
	RebootRefusal string
	// Retry is the pause between attempts to open a port that failed to
	// open; 0 means DefaultConsoleRetry.
	Retry time.Duration
	// Clock times the retries (clock.System() when nil).
	Clock clock.Clock
	Log   *slog.Logger

	started time.Time
	mu      sync.Mutex
	results struct{ positive, negative int } // since start, from job events
}

// Name implements Service.
func (*ConsoleService) Name() string { return "console" }

// Observe returns a job-event function that counts positive and negative
// results for status and then calls next (which may be nil); set
// Intake.Events to it.
func (s *ConsoleService) Observe(next func(JobEvent)) func(JobEvent) {
	return func(e JobEvent) {
		if e.State == cache.JobReported {
			s.mu.Lock()
			if e.Lesions > 0 {
				s.results.positive++
			} else {
				s.results.negative++
			}
			s.mu.Unlock()
		}
		if next != nil {
			next(e)
		}
	}
}

// Device is the console port the board names.
func (s *ConsoleService) Device() string { return s.Control.Intake.Board.Serial.Console.Device }

// Run implements Service: it keeps the console served on the board's port
// until ctx ends, and returns nil then. It never fails the daemon.
func (s *ConsoleService) Run(ctx context.Context) error {
	s.started = time.Now()
	log := s.logger()
	clk := s.Clock
	if clk == nil {
		clk = clock.System()
	}
	retry := s.Retry
	if retry <= 0 {
		retry = DefaultConsoleRetry
	}
	b := s.Control.Intake.Board
	dev, baud := b.Serial.Console.Device, b.Serial.Console.Baud
	con := console.New(s.config())
	// lastErr is the last failure logged ("" after a session that
	// worked); quick says the port last failed as soon as it opened.
	lastErr, quick := "", false
	for {
		wait := consoleReopen
		port, err := s.Open(dev, baud)
		if err != nil {
			wait, quick = retry, false
			if err.Error() != lastErr {
				log.Warn("service console not available: cannot open the console port; DICOM service goes on, retrying",
					"device", dev, "every", retry, "err", err)
				lastErr = err.Error()
			}
		} else {
			switch {
			case lastErr == "":
				log.Info("service console listening", "port", port.String())
			case !quick:
				log.Info("service console port open", "port", port.String())
			}
			t0 := clk.Now()
			err := s.session(ctx, con, port)
			if ctx.Err() != nil {
				return nil
			}
			if clk.Now().Sub(t0) < consoleReopen {
				// A port that fails as soon as it opens does not work:
				// said once, tried again every retry.
				if !quick || err.Error() != lastErr {
					log.Warn("service console not available: the console port fails as soon as it opens; DICOM service goes on, retrying",
						"device", dev, "every", retry, "err", err)
				}
				wait, quick, lastErr = retry, true, err.Error()
			} else {
				log.Warn("service console session ended; reopening the port", "port", port.String(), "err", err)
				quick, lastErr = false, ""
			}
		}
		t := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// session serves one console session on an open port until the port fails
// or ctx ends; the port is closed (halted when ctx ended) on return. A
// panic in a command ends the session, not the daemon.
func (s *ConsoleService) session(ctx context.Context, con *console.Console, port serial.Port) (err error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = port.Halt() // unblocks the pending Read
		case <-done:
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("daemon: console: a command panicked: %v", r)
		}
		_ = port.Close()
	}()
	err = con.Serve(ctx, port)
	if err == nil {
		err = errors.New("daemon: console: the far end hung up")
	}
	return err
}

func (s *ConsoleService) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// config gives the console its providers.
func (s *ConsoleService) config() console.Config {
	c := s.Control
	site := c.Intake.Site
	cfg := console.Config{
		Status:  s.status,
		Version: s.version,
		Net:     s.Net,
		AE: func() console.AE {
			a := console.AE{LocalAE: site.AETitle, Port: site.Port}
			for _, d := range site.Destinations {
				a.Destinations = append(a.Destinations, console.Destination{Name: d.Name, AE: d.AETitle, Host: d.Host, Port: d.Port})
			}
			return a
		},
		Echo: func(ctx context.Context, dest string) (time.Duration, error) {
			res, err := c.echo(ctx, dest)
			return res.Elapsed, err
		},
		SelfTest: s.selftest,
		Log:      s.Ring,
		Temp:     s.Temp,
		Disk:     s.disk,
		Reboot:   s.reboot,
		// The self-test opens and runs the model again: it takes longer
		// than a C-ECHO (metctl gives it no limit).
		EchoTimeout: 10 * time.Minute,
	}
	if cfg.Temp == nil && len(c.Intake.Board.Thermal.Zones) == 0 {
		cfg.Temp = func() thermal.Reading { return thermal.Reading{} }
	}
	return cfg
}

// status is Control's status (what metctl status shows) in the console's
// terms. Received, analysed and failed count the jobs the cache holds, as
// metctl status does; positive and negative count the results reported
// since the daemon started (Observe), which the cache does not keep.
func (s *ConsoleService) status() console.Status {
	st, err := s.Control.status()
	out := console.Status{Faults: st.Faults, Uptime: time.Since(s.started)}
	switch {
	case errors.Is(err, ErrNotStarted):
		out.State = "starting (the cache is not open yet)"
	case err != nil:
		out.State = "unknown"
		out.Faults = append(out.Faults, err.Error())
	case st.Jobs[cache.JobRunning] > 0:
		out.State = "processing"
	case st.Jobs[cache.JobReady] > 0:
		out.State = fmt.Sprintf("%d job(s) waiting for analysis", st.Jobs[cache.JobReady])
	case st.Jobs[cache.JobWaiting] > 0:
		out.State = "receiving"
	default:
		out.State = "idle"
	}
	for _, n := range st.Jobs {
		out.Received += n
	}
	out.Processed = st.Jobs[cache.JobReported] + st.Jobs[cache.JobDelivered] + st.Jobs[cache.JobDead] + st.Jobs[cache.JobSuperseded]
	out.Failed = st.Jobs[cache.JobFailed] + st.Jobs[cache.JobDead]
	out.OutboxPending = st.Outbox[cache.OutboxPending]
	s.mu.Lock()
	out.Positive, out.Negative = s.results.positive, s.results.negative
	s.mu.Unlock()
	out.Panel = "no front panel on this board"
	if p := s.Panel; p != nil {
		out.Panel = describeView(p.Machine.Current())
		for _, code := range p.Machine.Faults() {
			if f := panel.FaultText(code); !contains(out.Faults, f) {
				out.Faults = append(out.Faults, f)
			}
		}
		ls := p.Status()
		switch {
		case ls.Up:
			out.PanelLink = ls.Device + " up"
		case ls.Open:
			out.PanelLink = ls.Device + " open, the panel does not answer"
		default:
			out.PanelLink = ls.Device + " down"
		}
		if !ls.Up && ls.LastError != "" {
			out.PanelLink += " (" + ls.LastError + ")"
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// describeView says what the panel shows, e.g. "positive (3)".
func describeView(v panel.View) string {
	switch v.Show {
	case panel.Positive:
		return fmt.Sprintf("%s (%d)", v.Show, v.Count)
	case panel.Fault:
		return fmt.Sprintf("%s %s", v.Show, panel.FaultText(v.Code))
	}
	return v.Show.String()
}

// version is the daemon's build, the model in use and the slot.
func (s *ConsoleService) version() console.Version {
	st, _ := s.Control.status() // the model and board are filled in before the cache is read
	v := console.Version{Firmware: s.Control.Version, Commit: "unknown", Built: "unknown", Board: st.Board}
	if v.Firmware == "" {
		v.Firmware = "devel"
	}
	if s.Slot != "" {
		v.Firmware += " (slot " + s.Slot + ")"
	} else {
		v.Firmware += " (packaged release)"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				v.Commit = kv.Value[:min(12, len(kv.Value))]
			case "vcs.time":
				v.Built = kv.Value
			}
		}
	}
	v.Model, v.ModelSHA = "none (started without a model)", "-"
	if a := s.Control.Intake.Analyzer; a != nil && a.Model != nil && a.Model.Manifest != nil {
		v.Model = st.Model
		v.ModelSHA = a.Model.Manifest.SHA256
	}
	if s.Runtime != nil {
		v.Runtime = s.Runtime()
	}
	if st.Provider != "" {
		if v.Runtime != "" {
			v.Runtime += "; "
		}
		v.Runtime += "provider in use: " + st.Provider
	}
	if v.Runtime == "" {
		v.Runtime = "unknown"
	}
	return v
}

// selftest is the control socket's self-test (metctl selftest, metsentryd
// --selftest): the built-in phantom through the model opened again.
func (s *ConsoleService) selftest(ctx context.Context) []console.Check {
	const name = "built-in phantom study through the model"
	r, err := s.Control.selftest(ctx, nil)
	if err != nil {
		return []console.Check{{Name: name, Err: err}}
	}
	var checks []console.Check
	for _, l := range strings.Split(strings.TrimSpace(r.Report), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			checks = append(checks, console.Check{Name: l})
		}
	}
	if !r.Passed {
		checks = append(checks, console.Check{Name: name, Err: errors.New("failed (see the report above)")})
	} else {
		checks = append(checks, console.Check{Name: name})
	}
	return checks
}

// disk is the data folder's space, as metctl status reads it.
func (s *ConsoleService) disk() ([]console.Disk, error) {
	st, err := s.Control.status()
	if err != nil {
		return nil, err
	}
	return []console.Disk{{Path: s.Control.Intake.Board.Storage.DataDir, TotalBytes: st.DiskTotal, FreeBytes: st.DiskFree}}, nil
}

func (s *ConsoleService) reboot() error {
	if s.Reboot == nil {
		why := s.RebootRefusal
		if why == "" {
			why = "this appliance does not allow a reboot from the console"
		}
		return errors.New(why)
	}
	s.logger().Warn("service console: reboot requested")
	return s.Reboot()
}
