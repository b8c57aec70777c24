//go:build linux

package thermal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fsRoot is prefixed to every sysfs path; tests point it at a temp folder.
var fsRoot = ""

type sysfsZone struct {
	name, dir string
}

var _ Zone = (*sysfsZone)(nil)

// OpenZone opens the thermal zone at dir (e.g.
// /sys/class/thermal/thermal_zone0) and checks that its type is name, as the
// board file says: zone numbers change between kernel versions, names do not.
func OpenZone(name, dir string) (Zone, error) {
	b, err := os.ReadFile(filepath.Join(fsRoot, dir, "type"))
	if err != nil {
		return nil, fmt.Errorf("thermal: %s is not a thermal zone: %w", dir, err)
	}
	if got := strings.TrimSpace(string(b)); got != name {
		return nil, fmt.Errorf("thermal: %s is %q, but the board file says %q (fix the zone's path or name in the board file)", dir, got, name)
	}
	z := &sysfsZone{name: name, dir: dir}
	if _, err := z.Celsius(); err != nil {
		return nil, err
	}
	return z, nil
}

func (z *sysfsZone) Name() string   { return z.name }
func (z *sysfsZone) String() string { return "thermal " + z.name + " (" + z.dir + ")" }
func (z *sysfsZone) Halt() error    { return nil }

// Celsius reads temp, which holds millidegrees Celsius.
func (z *sysfsZone) Celsius() (float64, error) {
	b, err := os.ReadFile(filepath.Join(fsRoot, z.dir, "temp"))
	if err != nil {
		return 0, fmt.Errorf("thermal: read %s: %w", z.name, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("thermal: %s temp %q is not millidegrees: %w", z.name, strings.TrimSpace(string(b)), err)
	}
	return float64(v) / 1000, nil
}
