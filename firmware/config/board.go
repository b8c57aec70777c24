package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Board describes one kind of hardware. One file per board lives in boards/.
type Board struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Arch        string    `yaml:"arch"` // amd64 or arm64
	Serial      Serial    `yaml:"serial"`
	LED         LED       `yaml:"led"`
	Watchdog    Watchdog  `yaml:"watchdog"`
	Thermal     Thermal   `yaml:"thermal"`
	Inference   Inference `yaml:"inference"`
	Storage     Storage   `yaml:"storage"`
	Limits      Limits    `yaml:"limits"`
}

// Serial holds the two serial links: the front-panel MCU and the service console.
type Serial struct {
	Panel   Port `yaml:"panel"`
	Console Port `yaml:"console"`
}

// Port is one serial device.
type Port struct {
	Device string `yaml:"device"` // absolute path, e.g. /dev/ttyTHS1
	Baud   int    `yaml:"baud"`
}

// LED backends.
const (
	LEDPanel = "panel" // LEDs driven by the panel MCU over Serial.Panel
	LEDGPIO  = "gpio"  // LEDs on GPIO lines through the GPIO character device
	LEDSysfs = "sysfs" // LEDs under /sys/class/leds
)

// LED says how the front-panel lights are driven.
type LED struct {
	Backend string     `yaml:"backend"`
	GPIO    *GPIOLEDs  `yaml:"gpio"`
	Sysfs   *SysfsLEDs `yaml:"sysfs"`
}

// GPIOLEDs names the GPIO chip and the line names of each colour.
type GPIOLEDs struct {
	Chip  string `yaml:"chip"` // e.g. gpiochip0
	Red   string `yaml:"red"`
	Amber string `yaml:"amber"`
	Green string `yaml:"green"`
}

// SysfsLEDs names the /sys/class/leds directories of each colour.
type SysfsLEDs struct {
	Red   string `yaml:"red"`
	Amber string `yaml:"amber"`
	Green string `yaml:"green"`
}

// Watchdog is the hardware watchdog; it is petted only while the main loop is
// healthy.
type Watchdog struct {
	Enabled bool          `yaml:"enabled"`
	Device  string        `yaml:"device"`
	Timeout time.Duration `yaml:"timeout"`
}

// Thermal lists the thermal zones to watch and the two limits: above ThrottleC
// inference is slowed, above CriticalC the panel shows a fault.
type Thermal struct {
	Zones     []ThermalZone `yaml:"zones"`
	ThrottleC float64       `yaml:"throttle_c"`
	CriticalC float64       `yaml:"critical_c"`
}

// ThermalZone is one /sys/class/thermal zone, found by its type name.
type ThermalZone struct {
	Name string `yaml:"name"` // the zone's "type", e.g. cpu-thermal
	Path string `yaml:"path"` // e.g. /sys/class/thermal/thermal_zone0
}

// Inference execution providers, in the names used by board files.
const (
	ProviderTensorRT = "tensorrt"
	ProviderCUDA     = "cuda"
	ProviderCPU      = "cpu"
)

// KnownProviders lists the execution providers a board may name.
var KnownProviders = []string{ProviderTensorRT, ProviderCUDA, ProviderCPU}

// Inference says where ONNX Runtime is and how to run it.
type Inference struct {
	// Library is the path of libonnxruntime.so. A relative path is taken
	// relative to the directory the daemon is started from (the install root).
	Library        string   `yaml:"library"`
	Providers      []string `yaml:"providers"`
	Threads        int      `yaml:"threads"`
	MemoryBudgetMB int      `yaml:"memory_budget_mb"`
	EngineCache    string   `yaml:"engine_cache"` // TensorRT engine cache folder
}

// Storage says where the cache database and instance files live.
type Storage struct {
	DataDir string `yaml:"data_dir"`
	// IndexDelay is how long received instances wait to be recorded in the
	// database together (one commit per batch). Each is durable on disk
	// before it is acknowledged; a crash within the delay loses nothing,
	// since the next start records the files it finds. Zero (left out)
	// means DefaultIndexDelay.
	IndexDelay time.Duration `yaml:"index_delay"`
}

// DefaultIndexDelay is the index batch delay when the board sets none.
const DefaultIndexDelay = 100 * time.Millisecond

// IndexDelayOrDefault returns IndexDelay, or DefaultIndexDelay when unset.
func (s Storage) IndexDelayOrDefault() time.Duration {
	if s.IndexDelay <= 0 {
		return DefaultIndexDelay
	}
	return s.IndexDelay
}

// Limits bound the resources the daemon may use.
type Limits struct {
	MaxAssociations int `yaml:"max_associations"`
	MaxPDUBytes     int `yaml:"max_pdu_bytes"`
	MemoryMB        int `yaml:"memory_mb"`
}

// SupportedBauds are the serial rates the panel MCU and console support.
var SupportedBauds = []int{9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// LoadBoard reads and checks a board file. The returned error, when not nil,
// is a Problems listing every mistake found.
func LoadBoard(path string) (*Board, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Msg: fmt.Sprintf("cannot read board file: %v", unwrapPathErr(err))}}
	}
	return ParseBoard(path, data)
}

// ParseBoard decodes and checks board file contents; name is used in problems.
func ParseBoard(name string, data []byte) (*Board, error) {
	var b Board
	root, ps := decode(name, data, &b, boardSection)
	if root == nil {
		return nil, ps
	}
	c := &checker{file: name, root: root, ps: ps}
	b.check(c)
	if len(c.ps) > 0 {
		return &b, c.ps
	}
	return &b, nil
}

func boardSection(typ string) string {
	s := map[string]string{
		"config.Board": "", "config.Serial": " in serial", "config.Port": " in a serial port",
		"config.LED": " in led", "config.GPIOLEDs": " in led.gpio", "config.SysfsLEDs": " in led.sysfs",
		"config.Watchdog": " in watchdog", "config.Thermal": " in thermal", "config.ThermalZone": " in a thermal zone",
		"config.Inference": " in inference", "config.Storage": " in storage", "config.Limits": " in limits",
	}[typ]
	return s
}

func (b *Board) check(c *checker) {
	if b.Name == "" {
		c.addf("name", "name is missing (expected the board's name, e.g. jetson-orin-nano)")
	}
	if b.Arch != "amd64" && b.Arch != "arm64" {
		c.addf("arch", "arch %q is not supported (use amd64 or arm64)", b.Arch)
	}
	checkPort(c, "serial.panel", b.Serial.Panel)
	checkPort(c, "serial.console", b.Serial.Console)

	switch b.LED.Backend {
	case LEDPanel:
	case LEDGPIO:
		g := b.LED.GPIO
		if g == nil {
			c.addf("led", "led.backend is gpio but led.gpio is missing (expected chip, red, amber, green line names)")
			break
		}
		if g.Chip == "" {
			c.addf("led.gpio.chip", "led.gpio.chip is missing (expected a GPIO chip name, e.g. gpiochip0)")
		}
		for _, l := range []struct{ k, v string }{{"red", g.Red}, {"amber", g.Amber}, {"green", g.Green}} {
			if l.v == "" {
				c.addf("led.gpio."+l.k, "led.gpio.%s is missing (expected the GPIO line name of the %s LED)", l.k, l.k)
			}
		}
	case LEDSysfs:
		s := b.LED.Sysfs
		if s == nil {
			c.addf("led", "led.backend is sysfs but led.sysfs is missing (expected red, amber, green /sys/class/leds paths)")
			break
		}
		for _, l := range []struct{ k, v string }{{"red", s.Red}, {"amber", s.Amber}, {"green", s.Green}} {
			checkDevicePath(c, "led.sysfs."+l.k, l.v, "a /sys/class/leds/<name> directory")
		}
	default:
		c.addf("led.backend", "led.backend %q is not supported (use %s, %s or %s)", b.LED.Backend, LEDPanel, LEDGPIO, LEDSysfs)
	}
	if b.LED.Backend != LEDGPIO && b.LED.GPIO != nil {
		c.addf("led.gpio", "led.gpio is set but led.backend is %q (remove it or set backend: gpio)", b.LED.Backend)
	}
	if b.LED.Backend != LEDSysfs && b.LED.Sysfs != nil {
		c.addf("led.sysfs", "led.sysfs is set but led.backend is %q (remove it or set backend: sysfs)", b.LED.Backend)
	}

	if b.Watchdog.Enabled {
		checkDevicePath(c, "watchdog.device", b.Watchdog.Device, "e.g. /dev/watchdog0")
		if b.Watchdog.Timeout < time.Second || b.Watchdog.Timeout > 10*time.Minute {
			c.addf("watchdog.timeout", "watchdog.timeout %v is out of range (expected 1s to 10m)", b.Watchdog.Timeout)
		}
	}

	for i, z := range b.Thermal.Zones {
		p := fmt.Sprintf("thermal.zones.%d", i)
		if z.Name == "" {
			c.addf(p, "thermal zone %d has no name (expected its type, e.g. cpu-thermal)", i)
		}
		checkDevicePath(c, p+".path", z.Path, "a /sys/class/thermal/thermal_zoneN directory")
	}
	if len(b.Thermal.Zones) > 0 {
		if b.Thermal.ThrottleC < 40 || b.Thermal.ThrottleC > 110 {
			c.addf("thermal.throttle_c", "thermal.throttle_c %g is out of range (expected 40 to 110 °C)", b.Thermal.ThrottleC)
		}
		if b.Thermal.CriticalC <= b.Thermal.ThrottleC || b.Thermal.CriticalC > 125 {
			c.addf("thermal.critical_c", "thermal.critical_c %g must be above throttle_c %g and at most 125 °C", b.Thermal.CriticalC, b.Thermal.ThrottleC)
		}
	}

	inf := b.Inference
	if inf.Library == "" {
		c.addf("inference.library", "inference.library is missing (expected the path of libonnxruntime.so)")
	}
	if len(inf.Providers) == 0 {
		c.addf("inference.providers", "inference.providers is empty (expected an order from %s)", strings.Join(KnownProviders, ", "))
	}
	seen := map[string]bool{}
	for i, p := range inf.Providers {
		k := fmt.Sprintf("inference.providers.%d", i)
		if !slices.Contains(KnownProviders, p) {
			c.addf(k, "unknown provider %q (use %s)", p, strings.Join(KnownProviders, ", "))
		} else if seen[p] {
			c.addf(k, "provider %q is listed twice (list each provider once)", p)
		}
		seen[p] = true
	}
	if len(inf.Providers) > 0 && inf.Providers[len(inf.Providers)-1] != ProviderCPU {
		c.addf("inference.providers", "inference.providers must end with cpu, the provider that is always there")
	}
	if (seen[ProviderTensorRT]) && inf.EngineCache == "" {
		c.addf("inference", "inference.engine_cache is missing (tensorrt needs a folder for its engine cache)")
	}
	if inf.Threads < 1 || inf.Threads > 64 {
		c.addf("inference.threads", "inference.threads %d is out of range (expected 1 to 64)", inf.Threads)
	}
	if inf.MemoryBudgetMB < 256 {
		c.addf("inference.memory_budget_mb", "inference.memory_budget_mb %d is too small (expected at least 256)", inf.MemoryBudgetMB)
	}

	if !filepath.IsAbs(b.Storage.DataDir) {
		c.addf("storage.data_dir", "storage.data_dir %q must be an absolute path (e.g. /var/lib/metsentry)", b.Storage.DataDir)
	}
	if b.Storage.IndexDelay < 0 || b.Storage.IndexDelay > 2*time.Second {
		c.addf("storage.index_delay", "storage.index_delay %v is out of range (expected 0 to 2s, or leave it out for %v)", b.Storage.IndexDelay, DefaultIndexDelay)
	}
	if b.Limits.MaxAssociations < 1 || b.Limits.MaxAssociations > 1024 {
		c.addf("limits.max_associations", "limits.max_associations %d is out of range (expected 1 to 1024; 32 is usual)", b.Limits.MaxAssociations)
	}
	if b.Limits.MaxPDUBytes != 0 && (b.Limits.MaxPDUBytes < 4096 || b.Limits.MaxPDUBytes > 16<<20) {
		c.addf("limits.max_pdu_bytes", "limits.max_pdu_bytes %d is out of range (expected 4096 to 16777216, or leave it out)", b.Limits.MaxPDUBytes)
	}
	if b.Limits.MemoryMB != 0 && b.Limits.MemoryMB < b.Inference.MemoryBudgetMB {
		c.addf("limits.memory_mb", "limits.memory_mb %d is below inference.memory_budget_mb %d", b.Limits.MemoryMB, b.Inference.MemoryBudgetMB)
	}
}

func checkPort(c *checker, key string, p Port) {
	checkDevicePath(c, key+".device", p.Device, "e.g. /dev/ttyTHS1")
	if !slices.Contains(SupportedBauds, p.Baud) {
		c.addf(key+".baud", "%s.baud %d is not a supported rate (use 9600, 19200, 38400, 57600, 115200, 230400, 460800 or 921600)", key, p.Baud)
	}
}

// checkDevicePath checks the form of a device path. Whether the device exists is
// checked by ProbeBoard on the box itself, not here: a board file is checked on
// build machines too.
func checkDevicePath(c *checker, key, path, example string) {
	switch {
	case path == "":
		c.addf(key, "%s is missing (expected an absolute device path, %s)", key, example)
	case !filepath.IsAbs(path):
		c.addf(key, "%s %q is not an absolute path (expected %s)", key, path, example)
	case filepath.Clean(path) != path:
		c.addf(key, "%s %q is not a clean path (expected %s)", key, path, filepath.Clean(path))
	}
}

// ProbeBoard checks, on the box itself, that every device path the board names
// exists and that its data folder can hold the cache. It is run by the daemon at start and by `metsentryd --check --probe`.
func ProbeBoard(file string, b *Board) Problems {
	var ps Problems
	miss := func(what, path string) {
		if path == "" {
			return
		}
		if _, err := os.Stat(path); err != nil {
			ps = append(ps, Problem{File: file, Msg: fmt.Sprintf("%s %s is not present on this machine: %v (is this the right board file?)", what, path, unwrapPathErr(err))})
		}
	}
	miss("serial.panel.device", b.Serial.Panel.Device)
	miss("serial.console.device", b.Serial.Console.Device)
	if b.Watchdog.Enabled {
		miss("watchdog.device", b.Watchdog.Device)
	}
	if s := b.LED.Sysfs; b.LED.Backend == LEDSysfs && s != nil {
		miss("led.sysfs.red", s.Red)
		miss("led.sysfs.amber", s.Amber)
		miss("led.sysfs.green", s.Green)
	}
	if b.LED.Backend == LEDGPIO && b.LED.GPIO != nil {
		miss("led.gpio.chip", "/dev/"+b.LED.GPIO.Chip)
	}
	for i, z := range b.Thermal.Zones {
		miss(fmt.Sprintf("thermal.zones.%d.path", i), z.Path)
	}
	miss("inference.library", b.Inference.Library)
	if b.Storage.DataDir != "" {
		ps = append(ps, probeDataDir(file, b.Storage.DataDir)...)
	}
	return ps
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
