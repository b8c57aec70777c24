//go:build linux

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/warthog618/go-gpiocdev"

	"metsentry/firmware/config"
	"metsentry/hal/clock"
	"metsentry/hal/led"
	"metsentry/hal/thermal"
	"metsentry/hal/watchdog"
)

// Access to the machine goes through these variables so tests run on a fake
// tree.
var (
	// fsRoot is prefixed to every path.
	fsRoot = ""
	// isDevice tells a character device (tests accept plain files).
	isDevice = func(fi fs.FileInfo) bool { return fi.Mode()&fs.ModeCharDevice != 0 }
	// findLine returns the offset of the line called name on chip.
	findLine = func(chip, name string) (int, error) {
		c, err := gpiocdev.NewChip(chip)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.FindLine(name)
	}
)

// Check verifies the board file against this machine. file names the board
// file in problems.
func Check(file string, b *config.Board) config.Problems {
	var ps config.Problems
	add := func(format string, args ...any) {
		ps = append(ps, config.Problem{File: file, Msg: fmt.Sprintf(format, args...)})
	}
	device := func(key, path, hint string) {
		fi, err := os.Stat(filepath.Join(fsRoot, path))
		switch {
		case err != nil:
			add("%s %s is not present on this machine: %v (%s)", key, path, unwrap(err), hint)
		case !isDevice(fi):
			add("%s %s is not a character device (mode %v); is this the right board file?", key, path, fi.Mode())
		}
	}
	portHint := "is this the right board file?"
	if b.Name == "sim" {
		portHint = "start tools/panelsim, which makes it"
	}
	device("serial.panel.device", b.Serial.Panel.Device, portHint)
	if b.Serial.Console.Device != b.Serial.Panel.Device {
		device("serial.console.device", b.Serial.Console.Device, portHint)
	} else {
		add("serial.console.device and serial.panel.device are both %s (the console needs its own port)", b.Serial.Console.Device)
	}
	if b.Watchdog.Enabled {
		device("watchdog.device", b.Watchdog.Device, "is the watchdog driver loaded?")
	}
	for i, z := range b.Thermal.Zones {
		if msg := checkZone(z); msg != "" {
			add("thermal.zones.%d: %s", i, msg)
		}
	}
	switch b.LED.Backend {
	case config.LEDGPIO:
		if g := b.LED.GPIO; g != nil {
			if _, err := os.Stat(filepath.Join(fsRoot, "/dev", g.Chip)); err != nil {
				add("led.gpio.chip /dev/%s is not present on this machine: %v", g.Chip, unwrap(err))
				break
			}
			for _, l := range []struct{ color, name string }{{"red", g.Red}, {"amber", g.Amber}, {"green", g.Green}} {
				if _, err := findLine(g.Chip, l.name); err != nil {
					add("led.gpio.%s: no GPIO line named %q on %s: %v (see the 40-pin header table in the board file's comment)", l.color, l.name, g.Chip, err)
				}
			}
		}
	case config.LEDSysfs:
		if s := b.LED.Sysfs; s != nil {
			for _, l := range []struct{ color, dir string }{{"red", s.Red}, {"amber", s.Amber}, {"green", s.Green}} {
				if _, err := os.Stat(filepath.Join(fsRoot, l.dir, "brightness")); err != nil {
					add("led.sysfs.%s %s is not an LED (no brightness file): %v", l.color, l.dir, unwrap(err))
				}
			}
		}
	}
	return ps
}

// checkZone returns what is wrong with a thermal zone, or "".
func checkZone(z config.ThermalZone) string {
	typ, err := os.ReadFile(filepath.Join(fsRoot, z.Path, "type"))
	if err != nil {
		if at := zoneNamed(z.Name); at != "" {
			return fmt.Sprintf("%s is not a thermal zone here; %q is at %s (fix the path)", z.Path, z.Name, at)
		}
		return fmt.Sprintf("%s is not a thermal zone here: %v", z.Path, unwrap(err))
	}
	if got := strings.TrimSpace(string(typ)); got != z.Name {
		if at := zoneNamed(z.Name); at != "" {
			return fmt.Sprintf("%s is %q, not %q; %q is at %s (fix the path)", z.Path, got, z.Name, z.Name, at)
		}
		return fmt.Sprintf("%s is %q, not %q, and no zone here is called %q", z.Path, got, z.Name, z.Name)
	}
	if _, err := os.ReadFile(filepath.Join(fsRoot, z.Path, "temp")); err != nil {
		return fmt.Sprintf("%s (%s) cannot be read: %v", z.Path, z.Name, unwrap(err))
	}
	return ""
}

// zoneNamed finds the /sys/class/thermal zone whose type is name.
func zoneNamed(name string) string {
	dirs, _ := filepath.Glob(filepath.Join(fsRoot, "/sys/class/thermal/thermal_zone*"))
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "type")); err == nil && strings.TrimSpace(string(b)) == name {
			return strings.TrimPrefix(d, fsRoot)
		}
	}
	return ""
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Host is the board's hardware, opened. A field is nil (or empty) when the
// board has no such device or it failed to open.
type Host struct {
	Watchdog watchdog.Watchdog
	Zones    []thermal.Zone
	// LEDs drives lights wired to the board; nil when the lights are on
	// the panel MCU (led.backend: panel).
	LEDs *led.Blinker
}

// Drivers open devices; tests swap them.
var (
	openWatchdog = watchdog.Open
	openZone     = thermal.OpenZone
	openGPIO     = led.NewGPIO
	openSysfs    = led.NewSysfs
)

// Open opens the drivers the board chooses. What fails is logged, left out,
// and returned in the joined error so the daemon can raise a fault; Open
// never returns a nil Host.
func Open(b *config.Board, clk clock.Clock, log *slog.Logger) (*Host, error) {
	if log == nil {
		log = slog.Default()
	}
	h := &Host{}
	var errs []error
	fail := func(err error) {
		log.Error("host: device left out", "err", err)
		errs = append(errs, err)
	}
	if b.Watchdog.Enabled {
		wd, err := openWatchdog(b.Watchdog.Device, b.Watchdog.Timeout)
		if err != nil {
			fail(err)
		} else {
			h.Watchdog = wd
		}
	}
	for _, z := range b.Thermal.Zones {
		zone, err := openZone(z.Name, z.Path)
		if err != nil {
			fail(err)
			continue
		}
		h.Zones = append(h.Zones, zone)
	}
	var lights [3]led.LED
	var lerr error
	switch b.LED.Backend {
	case config.LEDGPIO:
		g := b.LED.GPIO
		for i, name := range []string{g.Red, g.Amber, g.Green} {
			if lights[i], lerr = openGPIO(g.Chip, name); lerr != nil {
				break
			}
		}
	case config.LEDSysfs:
		s := b.LED.Sysfs
		for i, dir := range []string{s.Red, s.Amber, s.Green} {
			if lights[i], lerr = openSysfs(dir); lerr != nil {
				break
			}
		}
	}
	if lerr != nil {
		for _, l := range lights {
			if l != nil {
				_ = l.Halt()
			}
		}
		fail(fmt.Errorf("host: front-panel lights: %w", lerr))
	} else if lights[0] != nil {
		h.LEDs = led.NewBlinker(lights[0], lights[1], lights[2], clk)
	}
	return h, errors.Join(errs...)
}

// Halt releases everything Open opened. The watchdog is disarmed, so Halt is
// for a clean stop only.
func (h *Host) Halt() error {
	var errs []error
	if h.LEDs != nil {
		errs = append(errs, h.LEDs.Halt())
	}
	for _, z := range h.Zones {
		errs = append(errs, z.Halt())
	}
	if h.Watchdog != nil {
		errs = append(errs, h.Watchdog.Halt())
	}
	return errors.Join(errs...)
}
