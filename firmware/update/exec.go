package update

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// SelfTestFlag is the daemon's flag that runs the built-in self-test
// (firmware/selftest) on the models it is given and exits 0 when it passes,
// 1 when it fails (firmware/cmd/metsentryd).
const SelfTestFlag = "--selftest"

// ExitRestart is the exit status with which the daemon stops after a
// passed install, so that its service manager starts it again at once from
// the new slot: the systemd unit (tools/mkdeb/debian/metsentry.service)
// lists it in RestartForceExitStatus= and SuccessExitStatus=. It is
// EX_TEMPFAIL of sysexits.h.
const ExitRestart = 75

// DaemonArgs is the usual argument list for ExecSelfTest: the slot's own
// binary is run as
//
//	<slot>/bin/metsentryd --selftest --board <board> --trust <trustDir> --model <slot>/models/<m>.manifest.json ...
//
// so the new firmware tests the new models on this board, against the
// trust store already installed.
func DaemonArgs(board, trustDir string) func(Slot) []string {
	return func(s Slot) []string {
		args := []string{SelfTestFlag, "--board", board, "--trust", trustDir}
		for _, m := range s.ModelManifests() {
			args = append(args, "--model", m)
		}
		return args
	}
}

// ExecSelfTest returns a SelfTest that runs the slot's own daemon binary
// with args(slot), killed after timeout: exit status 0 passes; anything
// else fails with the binary's last lines of output, which say why.
func ExecSelfTest(args func(Slot) []string, timeout time.Duration) SelfTest {
	return func(ctx context.Context, s Slot) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.Firmware(), args(s)...)
		cmd.Dir = s.Dir
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = &out
		err := cmd.Run()
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("update: %s %s took longer than %s: %s", s.Firmware(), SelfTestFlag, timeout, tail(out.String()))
		}
		if err != nil {
			return fmt.Errorf("update: %s %s: %v: %s", s.Firmware(), SelfTestFlag, err, tail(out.String()))
		}
		return nil
	}
}

// tail keeps the last lines of a self-test's output, where its verdict is.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	if out == "" {
		return "no output"
	}
	return out
}
