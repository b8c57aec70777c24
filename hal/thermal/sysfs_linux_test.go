//go:build linux

package thermal

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSysfsZone(t *testing.T) {
	fsRoot = t.TempDir()
	t.Cleanup(func() { fsRoot = "" })
	mk := func(dir, typ, temp string) {
		p := filepath.Join(fsRoot, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(p, "type"), []byte(typ+"\n"), 0o644)
		_ = os.WriteFile(filepath.Join(p, "temp"), []byte(temp+"\n"), 0o644)
	}
	mk("/sys/class/thermal/thermal_zone0", "cpu-thermal", "47250")
	mk("/sys/class/thermal/thermal_zone1", "gpu-thermal", "warm")
	z, err := OpenZone("cpu-thermal", "/sys/class/thermal/thermal_zone0")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := z.Celsius(); err != nil || c != 47.25 {
		t.Errorf("Celsius = %v, %v; want 47.25", c, err)
	}
	tests := []struct{ name, zone, dir string }{
		{"wrong type", "soc0-thermal", "/sys/class/thermal/thermal_zone0"},
		{"missing", "cpu-thermal", "/sys/class/thermal/thermal_zone9"},
		{"bad temp", "gpu-thermal", "/sys/class/thermal/thermal_zone1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := OpenZone(tt.zone, tt.dir); err == nil {
				t.Errorf("OpenZone(%s, %s) succeeded", tt.zone, tt.dir)
			}
		})
	}
}
