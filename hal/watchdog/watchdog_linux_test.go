//go:build linux

package watchdog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLinuxWatchdog(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "watchdog0")
	oldOpen, oldSet := openDevice, setTimeout
	t.Cleanup(func() { openDevice, setTimeout = oldOpen, oldSet })
	openDevice = func(path string) (io.WriteCloser, uintptr, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return nil, 0, err
		}
		return f, 42, nil
	}
	var asked int
	setTimeout = func(fd uintptr, s int) (int, error) {
		if fd != 42 {
			t.Errorf("ioctl on fd %d", fd)
		}
		asked = s
		return 32, nil // the driver rounds up
	}
	wd, err := Open(dev, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if asked != 30 || wd.Timeout() != 32*time.Second {
		t.Errorf("asked %ds, Timeout %v; want 30s asked and the driver's 32s reported", asked, wd.Timeout())
	}
	for range 2 {
		if err := wd.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := wd.Halt(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dev)
	if string(b) != "\x00\x00V" {
		t.Errorf("device got %q, want two keep-alives then the magic V", b)
	}
	if err := wd.Pet(); err == nil {
		t.Error("Pet after Halt succeeded")
	}

	setTimeout = func(uintptr, int) (int, error) { return 0, errors.New("invalid argument") }
	if _, err := Open(dev, 9999*time.Second); err == nil {
		t.Error("Open succeeded though the timeout could not be set")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "watchdog"), time.Minute); err == nil {
		t.Error("Open of a missing device succeeded")
	}
}
