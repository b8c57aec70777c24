package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/control"
	"metsentry/firmware/daemon"
	"metsentry/firmware/selftest"
	"metsentry/firmware/update"
	"metsentry/hal/thermal"
	"metsentry/runtime/trust"
)

// logRingLines is how many recent log lines metctl diag collects.
const logRingLines = 5000

// controlArgs is what the control socket needs from the command line.
type controlArgs struct {
	board             *config.Board
	boardArg          string // as given: a built-in name or a path
	boardFile         string
	sitePath          string
	models            []string
	trustDir          string
	ring              *daemon.LogRing
	installSelfTestIn time.Duration
	// restart stops the daemon after a passed install, to be started again
	// from the new slot (under systemd); nil leaves it running.
	restart func()
}

// controlServices returns the control socket for tools/metctl (also
// alone, for the service console to share) and, when
// the site sets status.listen, the Prometheus status endpoint, both reading
// svc. The board's thermal zones that open feed the temperature. With
// models, metctl selftest runs firmware/selftest on them (opened again from
// their files, as --selftest does) and metctl model install installs a
// signed bundle into the A/B slots under the data folder (firmware/update).
func controlServices(a controlArgs, svc *daemon.Intake, log *slog.Logger) (*daemon.Control, []daemon.Service) {
	board := a.board
	temp := hottest(board, log)
	files := map[string]string{"site.yaml": a.sitePath}
	if filepath.Ext(a.boardFile) != "" {
		files["board.yaml"] = a.boardFile
	}
	ctl := &daemon.Control{Intake: svc, Version: equipment(board).SoftwareVersion, Temperature: temp, Logs: a.ring,
		ConfigFiles: files, Log: log, Restart: a.restart}
	if len(a.models) > 0 {
		open := selftestOpener(board, a.models, a.trustDir, log)
		ctl.Selftest = func(ctx context.Context) (control.Selftest, error) {
			r := selftest.Open(ctx, open)
			return control.Selftest{Passed: r.Passed, Report: r.String()}, nil
		}
	}
	ctl.Install = func(ctx context.Context, path string, progress func(string)) (control.Install, error) {
		store, err := trust.LoadStore(a.trustDir)
		if err != nil {
			return control.Install{}, fmt.Errorf("metsentryd: --trust %s: %w", a.trustDir, err)
		}
		trustAbs, err := filepath.Abs(a.trustDir)
		if err != nil {
			return control.Install{}, fmt.Errorf("metsentryd: %w", err)
		}
		boardArg := a.boardArg // a built-in name, or a path the slot's binary must find from its own folder
		if filepath.Ext(boardArg) != "" {
			if boardArg, err = filepath.Abs(boardArg); err != nil {
				return control.Install{}, fmt.Errorf("metsentryd: %w", err)
			}
		}
		slots := &update.Slots{Root: filepath.Join(board.Storage.DataDir, "slots"), Store: store, Log: log, Progress: progress,
			SelfTest: update.ExecSelfTest(update.DaemonArgs(boardArg, trustAbs), a.installSelfTestIn)}
		res, err := slots.Install(ctx, path)
		if err != nil {
			return control.Install{}, err
		}
		return control.Install{Version: res.Version, Slot: res.Slot, KeyID: res.KeyID, Previous: res.Previous, PreviousVersion: res.PreviousVersion}, nil
	}
	services := []daemon.Service{ctl}
	if addr := svc.Site.Status.Listen; addr != "" {
		m := daemon.NewMetrics(svc)
		m.Temperature = temp
		ctl.Metrics = m
		services = append(services, &daemon.MetricsService{Metrics: m, Addr: addr, Log: log})
	}
	return ctl, services
}

// hottest opens the board's thermal zones and returns a reader of the
// hottest one, or nil when the board names none. A zone that does not open
// is logged and left out.
func hottest(board *config.Board, log *slog.Logger) func() (float64, error) {
	var zones []thermal.Zone
	for _, z := range board.Thermal.Zones {
		zone, err := thermal.OpenZone(z.Name, z.Path)
		if err != nil {
			log.Warn("thermal zone left out of status", "zone", z.Name, "err", err)
			continue
		}
		zones = append(zones, zone)
	}
	if len(board.Thermal.Zones) == 0 {
		return nil
	}
	return func() (float64, error) {
		best, ok := 0.0, false
		var errs []error
		for _, z := range zones {
			c, err := z.Celsius()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok || c > best {
				best, ok = c, true
			}
		}
		if !ok {
			return 0, fmt.Errorf("metsentryd: no thermal zone could be read (of %d in the board file): %w", len(board.Thermal.Zones), errors.Join(errs...))
		}
		return best, nil
	}
}
