package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"metsentry/firmware/config"
	"metsentry/firmware/daemon"
	"metsentry/hal/thermal"
)

// logRingLines is how many recent log lines metctl diag collects.
const logRingLines = 5000

// controlServices returns the control socket for tools/metctl and, when
// the site sets status.listen, the Prometheus status endpoint, both reading
// svc. The board's thermal zones that open feed the temperature.
func controlServices(board *config.Board, boardFile, sitePath string, svc *daemon.Intake, ring *daemon.LogRing, log *slog.Logger) []daemon.Service {
	temp := hottest(board, log)
	files := map[string]string{"site.yaml": sitePath}
	if filepath.Ext(boardFile) != "" {
		files["board.yaml"] = boardFile
	}
	ctl := &daemon.Control{Intake: svc, Version: equipment(board).SoftwareVersion, Temperature: temp, Logs: ring,
		ConfigFiles: files, Log: log}
	services := []daemon.Service{ctl}
	if addr := svc.Site.Status.Listen; addr != "" {
		m := daemon.NewMetrics(svc)
		m.Temperature = temp
		ctl.Metrics = m
		services = append(services, &daemon.MetricsService{Metrics: m, Addr: addr, Log: log})
	}
	return services
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
