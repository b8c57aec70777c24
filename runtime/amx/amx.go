package amx

import (
	"errors"
	"os"
	"strings"
	"sync"
)

// State says what Block did, for status output and the SR's algorithm details.
type State string

// States Block returns.
const (
	StateBlocked      State = "blocked"        // filter installed; AMX requests fail with EPERM
	StateNoAMX        State = "no-amx"         // the CPU has no AMX; nothing to block
	StateNotSupported State = "not-applicable" // not linux/amd64; nothing to block
	StateOff          State = "off"            // Block was not called (ort.WithoutAMXGuard)
)

// ErrAlreadyPermitted is returned by Block when this process was granted AMX
// before the guard could be installed (ONNX Runtime was loaded first); the
// grant cannot be taken back.
var ErrAlreadyPermitted = errors.New("amx: AMX tile data was already permitted to this process before the guard (call amx.Block before loading ONNX Runtime)")

// cpuinfoPath is swapped by tests.
var cpuinfoPath = "/proc/cpuinfo"

// HasAMX reports whether the CPU advertises AMX tiles (amx_tile in
// /proc/cpuinfo flags).
func HasAMX() bool {
	b, err := os.ReadFile(cpuinfoPath)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "flags") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if f == "amx_tile" {
				return true
			}
		}
		return false
	}
	return false
}

var (
	once     sync.Once
	onceErr  error
	onceStat State
)

// Block installs the guard once per process and returns what it did. Later
// calls return the first call's result.
func Block() (State, error) {
	once.Do(func() { onceStat, onceErr = block() })
	return onceStat, onceErr
}
