package main

import (
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"metsentry/firmware/config"
	"metsentry/firmware/daemon"
	"metsentry/firmware/panel/console"
	"metsentry/hal/serial"
	"metsentry/hal/thermal"
)

// consoleRingLines is how many recent log lines the service console's
// `log` keeps (redacted; console.Ring).
const consoleRingLines = 1000

// consoleArgs is what the service console needs from the rest of main.
type consoleArgs struct {
	board   *config.Board
	ctl     *daemon.Control
	intake  *daemon.Intake
	panel   *daemon.PanelService // nil: no panel
	ring    *console.Ring
	runtime *atomic.Pointer[string] // the inference runtime's description, once started
	// restart stops the daemon so that systemd starts it again; nil when
	// not run by systemd, and reboot is refused.
	restart func()
}

// consoleService returns the service console on the board's
// serial.console port (the sim board's is tools/panelsim -console's
// cable), fed by the control socket's answers. It counts the results the
// pipeline reports for status (Intake.Events).
func consoleService(a consoleArgs, log *slog.Logger) *daemon.ConsoleService {
	con := &daemon.ConsoleService{Control: a.ctl, Open: serial.Open, Panel: a.panel, Ring: a.ring, Log: log,
		Slot: os.Getenv(slotEnv), Net: console.SystemNet, Temp: consoleTemp(a.board, log)}
	con.Runtime = func() string {
		if d := a.runtime.Load(); d != nil {
			return *d
		}
		return "not started"
	}
	if a.restart != nil {
		// The daemon stops a moment later, once the console has answered.
		con.Reboot = func() error { time.AfterFunc(time.Second, a.restart); return nil }
	} else {
		con.RebootRefusal = "refused: metsentryd is not run by systemd here, so nothing would start it again; restart it by hand"
	}
	a.intake.Events = con.Observe(a.intake.Events)
	return con
}

// consoleTemp reads every thermal zone of the board for `temp`, with the
// board's limits deciding the level; nil when the board names none.
func consoleTemp(board *config.Board, log *slog.Logger) func() thermal.Reading {
	if len(board.Thermal.Zones) == 0 {
		return nil
	}
	var zones []thermal.Zone
	for _, z := range board.Thermal.Zones {
		zone, err := thermal.OpenZone(z.Name, z.Path)
		if err != nil {
			log.Warn("thermal zone left out of the service console", "zone", z.Name, "err", err)
			continue
		}
		zones = append(zones, zone)
	}
	m, err := thermal.NewMonitor(thermal.Config{Zones: zones, ThrottleC: board.Thermal.ThrottleC, CriticalC: board.Thermal.CriticalC, Logger: log})
	if err != nil {
		log.Warn("service console: temp unavailable", "err", err)
		return nil
	}
	return func() thermal.Reading { return m.Check() }
}
