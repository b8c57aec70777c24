//go:build linux

package watchdog

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// File access and the timeout ioctl go through these variables so that tests
// never touch a real watchdog (opening one arms it).
var (
	openDevice = func(path string) (io.WriteCloser, uintptr, error) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, 0, err
		}
		return f, f.Fd(), nil
	}
	setTimeout = func(fd uintptr, seconds int) (int, error) {
		v := int32(seconds)
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, wdiocSetTimeout, uintptr(unsafe.Pointer(&v)))
		if e != 0 {
			return 0, e
		}
		return int(v), nil
	}
)

// WDIOC_SETTIMEOUT = _IOWR('W', 6, int).
const wdiocSetTimeout = 0xC0045706

type linuxWatchdog struct {
	path    string
	f       io.WriteCloser
	timeout time.Duration
	mu      sync.Mutex
	halted  bool
}

var _ Watchdog = (*linuxWatchdog)(nil)

// Open opens and so arms the watchdog at path (e.g. /dev/watchdog0) and sets
// its timeout. The driver may round the timeout; Timeout reports what it
// chose.
func Open(path string, timeout time.Duration) (Watchdog, error) {
	f, fd, err := openDevice(path)
	if err != nil {
		return nil, fmt.Errorf("watchdog: open %s: %w", path, err)
	}
	got, err := setTimeout(fd, int(timeout/time.Second))
	if err != nil {
		// Leave it armed with its default timeout; say so.
		_ = f.Close()
		return nil, fmt.Errorf("watchdog: set the timeout of %s to %v: %w (the watchdog stays armed with its default timeout; fix the board file's watchdog.timeout)", path, timeout, err)
	}
	return &linuxWatchdog{path: path, f: f, timeout: time.Duration(got) * time.Second}, nil
}

// Pet writes one byte, which the kernel takes as a keep-alive.
func (w *linuxWatchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.halted {
		return fmt.Errorf("watchdog: %s is halted", w.path)
	}
	if _, err := w.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("watchdog: pet %s: %w", w.path, err)
	}
	return nil
}

func (w *linuxWatchdog) Timeout() time.Duration { return w.timeout }
func (w *linuxWatchdog) String() string         { return "watchdog " + w.path }

// Halt writes the magic character 'V' and closes the device, which disarms a
// watchdog whose driver allows it (no "nowayout").
func (w *linuxWatchdog) Halt() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.halted {
		return nil
	}
	w.halted = true
	_, err := w.f.Write([]byte("V"))
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("watchdog: magic close of %s: %w", w.path, err)
	}
	return nil
}
