//go:build !race

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"metsentry/firmware/bundle/bundletest"
	"metsentry/firmware/control"
	"metsentry/firmware/testenv"
	"metsentry/firmware/update"
	"metsentry/runtime/trust"
)

// TestInstallRestartsIntoSlot runs the real metsentryd as systemd would
// (NOTIFY_SOCKET), started without a model as a bare box is: metctl model
// install of a bundle (this binary and the shipped fp32 model) passes its
// self-test, the reply says the daemon restarts, and it exits
// update.ExitRestart. Started again the same way, the packaged binary
// hands over to slot a's binary (the same process), which opens the
// slot's model.
func TestInstallRestartsIntoSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: builds metsentryd and runs the model")
	}
	root := testenv.RepoRoot(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "usr", "bin", "metsentryd")
	build := exec.Command(testenv.Program(t, "go"), "build", "-o", bin, "./firmware/cmd/metsentryd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build metsentryd: %v\n%s", err, out)
	}
	b, err := os.ReadFile(simBoard(t))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tmp, "data")
	board := strings.Replace(string(b), "data_dir: /var/lib/metsentry-sim", "data_dir: "+data, 1)
	if !strings.Contains(board, data) {
		t.Fatal("boards/sim.yaml changed: cannot point its data folder at the test's")
	}
	boardFile, siteFile := filepath.Join(tmp, "board.yaml"), filepath.Join(tmp, "site.yaml")
	os.WriteFile(boardFile, []byte(board), 0o600)
	os.WriteFile(siteFile, []byte("ae_title: METSENTRY\nport: "+strconv.Itoa(testenv.FreePort(t))+"\nbind: 127.0.0.1\nstatus: {listen: \"\"}\n"), 0o600)

	// The box's trust store: the shipped models' key and the vendor's.
	v := bundletest.NewVendor(t, "updates")
	copyShippedKeys(t, v.TrustDir)
	if v.Store, err = trust.LoadStore(v.TrustDir); err != nil {
		t.Fatal(err)
	}
	fw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := v.Build(t, "1.4.0", fw, filepath.Join(shippedCopy(t, ""), "metnet-fp32.manifest.json"))

	notify := fakeSystemd(t)
	readies := 0
	// ready waits for the n-th READY=1 (sent once the DICOM port listens,
	// after the intake opened its cache).
	ready := func(n int) {
		t.Helper()
		if err := notify.SetReadDeadline(time.Now().Add(3 * time.Minute)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		for readies < n {
			k, err := notify.Read(buf)
			if err != nil {
				t.Fatalf("READY=1 number %d never came: %v", n, err)
			}
			if strings.HasPrefix(string(buf[:k]), "READY=1") {
				readies++
			}
		}
	}
	socket := filepath.Join(data, "run", "control.sock")
	start := func() (*exec.Cmd, *lineWatch, chan error) {
		stderr := &lineWatch{want: "control socket listening", ready: make(chan struct{})}
		cmd := exec.Command(bin, "--board", boardFile, "--site", siteFile, "--trust", v.TrustDir)
		cmd.Env = append(os.Environ(), "GOMEMLIMIT=")
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-stderr.ready:
		case err := <-done:
			t.Fatalf("metsentryd stopped before its control socket listened: %v\n%s", err, stderr.String())
		case <-time.After(3 * time.Minute):
			t.Fatalf("no control socket after 3 minutes:\n%s", stderr.String())
		}
		return cmd, stderr, done
	}

	_, stderr, done := start()
	ready(1)
	var res control.Install
	if err := control.Call(t.Context(), socket, control.Request{Cmd: control.CmdModelInstall, Args: []string{bundlePath}}, nil, &res); err != nil {
		t.Fatalf("install: %v\n%s", err, stderr.String())
	}
	if !res.Restart || res.Slot != update.SlotA || res.Version != "1.4.0" {
		t.Fatalf("install answered %+v, want 1.4.0 in slot a and a restart", res)
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != update.ExitRestart {
			t.Fatalf("metsentryd after the install: %v, want exit status %d\n%s", err, update.ExitRestart, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("metsentryd still runs a minute after the install passed:\n%s", stderr.String())
	}

	cmd, stderr, done := start()
	ready(2)
	slotBin := filepath.Join(data, "slots", "a", "bin", "metsentryd")
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe"); err != nil || exe != slotBin {
		t.Errorf("the restarted daemon runs %q (%v), want slot a's %s", exe, err, slotBin)
	}
	for _, w := range []string{"running the current slot", "version=1.4.0", "handing over to the current slot's binary", "started from a slot", "slot=a"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("log does not say %q:\n%s", w, stderr.String())
		}
	}
	var st control.Status
	if err := control.Call(t.Context(), socket, control.Request{Cmd: control.CmdStatus}, nil, &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Model, "(fp32)") {
		t.Errorf("status model %q, want the slot's fp32 model (the daemon was given none)", st.Model)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the slot's daemon after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the slot's daemon still runs a minute after SIGTERM:\n%s", stderr.String())
	}
}
