//go:build linux

package led

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSysfsLED(t *testing.T) {
	fsRoot = t.TempDir()
	t.Cleanup(func() { fsRoot = "" })
	dir := "/sys/class/leds/panel:red"
	p := filepath.Join(fsRoot, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"max_brightness": "255\n", "brightness": "0\n", "trigger": "[heartbeat] none"} {
		if err := os.WriteFile(filepath.Join(p, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(p, f))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	l, err := NewSysfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := read("trigger"); got != "none" {
		t.Errorf("trigger = %q, want none", got)
	}
	if err := l.Set(true); err != nil {
		t.Fatal(err)
	}
	if got := read("brightness"); got != "255" {
		t.Errorf("brightness on = %q, want max_brightness 255", got)
	}
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	if got := read("brightness"); got != "0" {
		t.Errorf("brightness after Halt = %q, want 0", got)
	}
	if err := l.Set(true); err == nil {
		t.Error("Set after Halt succeeded")
	}
	if _, err := NewSysfs("/sys/class/leds/missing"); err == nil {
		t.Error("NewSysfs of a missing LED succeeded")
	}
}

type fakeLine struct {
	values []int
	closed bool
}

func (f *fakeLine) SetValue(v int) error { f.values = append(f.values, v); return nil }
func (f *fakeLine) Close() error         { f.closed = true; return nil }

func TestGPIOLED(t *testing.T) {
	old := requestLine
	t.Cleanup(func() { requestLine = old })
	line := &fakeLine{}
	var asked []string
	requestLine = func(chip, name string) (gpioLine, error) {
		asked = append(asked, chip+"/"+name)
		if name == "PZ.99" {
			return nil, errors.New("no such line")
		}
		return line, nil
	}
	l, err := NewGPIO("gpiochip0", "PQ.05")
	if err != nil {
		t.Fatal(err)
	}
	if l.String() != "gpio gpiochip0/PQ.05" {
		t.Errorf("String = %q", l.String())
	}
	_ = l.Set(true)
	_ = l.Set(false)
	_ = l.Set(true)
	if err := l.Halt(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 0, 1, 0}, line.values); diff != "" {
		t.Errorf("line values (-want +got):\n%s", diff)
	}
	if !line.closed {
		t.Error("Halt did not release the line")
	}
	if _, err := NewGPIO("gpiochip0", "PZ.99"); err == nil {
		t.Error("NewGPIO of a missing line succeeded")
	}
	if diff := cmp.Diff([]string{"gpiochip0/PQ.05", "gpiochip0/PZ.99"}, asked); diff != "" {
		t.Errorf("lines requested (-want +got):\n%s", diff)
	}
}
