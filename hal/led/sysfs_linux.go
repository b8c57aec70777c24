//go:build linux

package led

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fsRoot is prefixed to every sysfs path; tests point it at a temp folder.
var fsRoot = ""

// sysfsLED is a light under /sys/class/leds.
type sysfsLED struct {
	dir    string
	max    int
	mu     sync.Mutex
	halted bool
}

var _ LED = (*sysfsLED)(nil)

// NewSysfs opens the LED at dir, e.g. /sys/class/leds/panel:red. It turns off
// any kernel trigger (heartbeat, disk activity) so that only metsentry drives
// it, and reads max_brightness for "on".
func NewSysfs(dir string) (LED, error) {
	p := filepath.Join(fsRoot, dir)
	b, err := os.ReadFile(filepath.Join(p, "max_brightness"))
	if err != nil {
		return nil, fmt.Errorf("led: %s is not a sysfs LED (no max_brightness): %w", dir, err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || max < 1 {
		return nil, fmt.Errorf("led: %s max_brightness %q is not a positive number", dir, strings.TrimSpace(string(b)))
	}
	if err := os.WriteFile(filepath.Join(p, "trigger"), []byte("none"), 0); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("led: turn off the trigger of %s: %w", dir, err)
	}
	l := &sysfsLED{dir: dir, max: max}
	return l, l.Set(false)
}

func (l *sysfsLED) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return fmt.Errorf("led: %s is halted", l.dir)
	}
	return l.write(on)
}

func (l *sysfsLED) write(on bool) error {
	v := "0"
	if on {
		v = strconv.Itoa(l.max)
	}
	if err := os.WriteFile(filepath.Join(fsRoot, l.dir, "brightness"), []byte(v), 0); err != nil {
		return fmt.Errorf("led: write %s brightness: %w", l.dir, err)
	}
	return nil
}

func (l *sysfsLED) String() string { return "sysfs " + l.dir }

func (l *sysfsLED) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return nil
	}
	l.halted = true
	return l.write(false)
}
