//go:build linux

package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/hal/led"
	"metsentry/hal/led/ledtest"
	"metsentry/hal/thermal"
	"metsentry/hal/thermal/thermaltest"
	"metsentry/hal/watchdog"
	"metsentry/hal/watchdog/watchdogtest"
)

// fakeMachine builds a tree under a temp root holding every device the board
// names, as the real board would have them, and points the package at it.
func fakeMachine(t *testing.T, b *config.Board, lines map[string]bool) string {
	t.Helper()
	root := t.TempDir()
	oldRoot, oldDev, oldFind := fsRoot, isDevice, findLine
	t.Cleanup(func() { fsRoot, isDevice, findLine = oldRoot, oldDev, oldFind })
	fsRoot = root
	isDevice = func(fi fs.FileInfo) bool { return fi.Mode().IsRegular() }
	findLine = func(chip, name string) (int, error) {
		if lines[chip+"/"+name] {
			return 1, nil
		}
		return 0, errors.New("line not found")
	}
	file := func(p, content string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file(b.Serial.Panel.Device, "")
	file(b.Serial.Console.Device, "")
	if b.Watchdog.Enabled {
		file(b.Watchdog.Device, "")
	}
	for _, z := range b.Thermal.Zones {
		file(z.Path+"/type", z.Name+"\n")
		file(z.Path+"/temp", "45000\n")
	}
	if g := b.LED.GPIO; g != nil {
		file("/dev/"+g.Chip, "")
	}
	if s := b.LED.Sysfs; s != nil {
		for _, d := range []string{s.Red, s.Amber, s.Green} {
			file(d+"/brightness", "0")
			file(d+"/max_brightness", "1")
		}
	}
	return root
}

func loadBoard(t *testing.T, name string) *config.Board {
	t.Helper()
	data, file, ok := boards.File(name)
	if !ok {
		t.Fatalf("no built-in board %s", name)
	}
	b, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// headerLines are the 40-pin header line names of the Jetson boards' LED
// wiring, as the kernel's tegra234 GPIO driver names them.
var headerLines = map[string]bool{"gpiochip0/PQ.06": true, "gpiochip0/PR.00": true, "gpiochip0/PN.01": true}

func TestCheckBuiltInBoards(t *testing.T) {
	for _, name := range boards.Names() {
		t.Run(name, func(t *testing.T) {
			b := loadBoard(t, name)
			fakeMachine(t, b, headerLines)
			if ps := Check("boards/"+name+".yaml", b); len(ps) > 0 {
				t.Errorf("board on its own machine has problems:\n%v", ps)
			}
		})
	}
}

func TestCheckFindsMistakes(t *testing.T) {
	tests := []struct {
		name  string
		board string
		spoil func(t *testing.T, root string, b *config.Board)
		want  string
	}{
		{"panel port missing", "x86-devkit", func(t *testing.T, root string, b *config.Board) {
			os.Remove(filepath.Join(root, b.Serial.Panel.Device))
		}, "serial.panel.device /dev/ttyUSB0 is not present on this machine"},
		{"sim without panelsim", "sim", func(t *testing.T, root string, b *config.Board) {
			os.Remove(filepath.Join(root, b.Serial.Panel.Device))
		}, "start tools/panelsim"},
		{"watchdog missing", "jetson-orin-nano", func(t *testing.T, root string, b *config.Board) {
			os.Remove(filepath.Join(root, b.Watchdog.Device))
		}, "watchdog.device /dev/watchdog0 is not present"},
		{"watchdog is a folder", "x86-devkit", func(t *testing.T, root string, b *config.Board) {
			p := filepath.Join(root, b.Watchdog.Device)
			os.Remove(p)
			os.Mkdir(p, 0o755)
		}, "is not a character device"},
		{"thermal zones renumbered", "jetson-orin-nano", func(t *testing.T, root string, b *config.Board) {
			// A kernel update moved soc0-thermal from zone 5 to zone 7.
			z5 := filepath.Join(root, "/sys/class/thermal/thermal_zone5")
			z7 := filepath.Join(root, "/sys/class/thermal/thermal_zone7")
			os.Rename(z5, z7)
			os.MkdirAll(z5, 0o755)
			os.WriteFile(filepath.Join(z5, "type"), []byte("cv0-thermal\n"), 0o644)
		}, `thermal.zones.2: /sys/class/thermal/thermal_zone5 is "cv0-thermal", not "soc0-thermal"; "soc0-thermal" is at /sys/class/thermal/thermal_zone7 (fix the path)`},
		{"thermal zone gone", "x86-devkit", func(t *testing.T, root string, b *config.Board) {
			os.RemoveAll(filepath.Join(root, "/sys/class/thermal"))
		}, "thermal.zones.0: /sys/class/thermal/thermal_zone0 is not a thermal zone here"},
		{"gpio line misnamed", "jetson-agx-orin", func(t *testing.T, root string, b *config.Board) {
			b.LED.GPIO.Amber = "PH.99"
		}, `led.gpio.amber: no GPIO line named "PH.99" on gpiochip0`},
		{"gpio chip missing", "jetson-agx-orin", func(t *testing.T, root string, b *config.Board) {
			os.Remove(filepath.Join(root, "/dev/gpiochip0"))
		}, "led.gpio.chip /dev/gpiochip0 is not present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := loadBoard(t, tt.board)
			root := fakeMachine(t, b, headerLines)
			tt.spoil(t, root, b)
			ps := Check("board.yaml", b)
			if !strings.Contains(ps.Error(), tt.want) {
				t.Errorf("problems:\n%v\nwant one containing %q", ps, tt.want)
			}
		})
	}
}

func TestCheckSysfsLEDs(t *testing.T) {
	b := loadBoard(t, "x86-devkit")
	b.LED = config.LED{Backend: config.LEDSysfs, Sysfs: &config.SysfsLEDs{Red: "/sys/class/leds/red", Amber: "/sys/class/leds/amber", Green: "/sys/class/leds/green"}}
	root := fakeMachine(t, b, nil)
	if ps := Check("b", b); len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	os.RemoveAll(filepath.Join(root, "/sys/class/leds/amber"))
	if ps := Check("b", b); !strings.Contains(ps.Error(), "led.sysfs.amber /sys/class/leds/amber is not an LED") {
		t.Errorf("problems: %v", ps)
	}
}

func TestOpenSkipsWhatFails(t *testing.T) {
	b := loadBoard(t, "jetson-agx-orin")
	oldW, oldZ, oldG := openWatchdog, openZone, openGPIO
	t.Cleanup(func() { openWatchdog, openZone, openGPIO = oldW, oldZ, oldG })
	wd := &watchdogtest.Watchdog{T: b.Watchdog.Timeout}
	openWatchdog = func(string, time.Duration) (watchdog.Watchdog, error) { return wd, nil }
	openZone = func(name, dir string) (thermal.Zone, error) {
		if name == "gpu-thermal" {
			return nil, fmt.Errorf("thermal: %s is not a thermal zone", dir)
		}
		return &thermaltest.Zone{ZoneName: name}, nil
	}
	var leds []*ledtest.LED
	openGPIO = func(chip, name string) (led.LED, error) {
		l := &ledtest.LED{Name: name}
		leds = append(leds, l)
		return l, nil
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := Open(b, nil, quiet)
	if err == nil || !strings.Contains(err.Error(), "thermal_zone1") {
		t.Errorf("Open error = %v, want the failed gpu zone", err)
	}
	if h.Watchdog != wd || len(h.Zones) != 2 || h.LEDs == nil || len(leds) != 3 {
		t.Fatalf("host = %+v, want the watchdog, two zones and three LEDs", h)
	}
	if err := h.Halt(); err != nil {
		t.Fatal(err)
	}
	if !wd.Halted() || !leds[0].Halted {
		t.Error("Halt did not release the watchdog and lights")
	}

	// A missing light: the others are released, the lights left out.
	leds = nil
	openGPIO = func(chip, name string) (led.LED, error) {
		if name == b.LED.GPIO.Green {
			return nil, errors.New("line busy")
		}
		l := &ledtest.LED{Name: name}
		leds = append(leds, l)
		return l, nil
	}
	h, err = Open(b, nil, quiet)
	if err == nil || h.LEDs != nil || len(leds) != 2 || !leds[0].Halted || !leds[1].Halted {
		t.Errorf("with a failing green LED: err %v, LEDs %v, opened %d", err, h.LEDs, len(leds))
	}
}
