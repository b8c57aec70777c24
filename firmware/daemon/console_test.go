//go:build linux

package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"metsentry/firmware/analyze"
	"metsentry/firmware/control"
	"metsentry/firmware/dimse"
	"metsentry/firmware/panel/console"
	"metsentry/firmware/report"
	"metsentry/firmware/testenv"
	"metsentry/hal/serial"
	"metsentry/hal/serial/serialtest"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/tools/panelsim/sim"
)

// consoleNet is a stand-in network that finds nothing.
type consoleNet struct{}

func (consoleNet) Run(_ context.Context, _ []float32, shape [5]int64) ([]float32, error) {
	return make([]float32, shape[2]*shape[3]*shape[4]), nil
}
func (consoleNet) Provider() string { return "cpu" }
func (consoleNet) Close() error     { return nil }

var _ infer.Engine = consoleNet{}

// consoleBox is a daemon (intake, control socket, service console) on the
// sim board whose console port is device.
type consoleBox struct {
	log   *slog.Logger
	ring  *LogRing      // every line, for counting
	cring *console.Ring // what the console's log shows
	port  int
	opens *atomic.Int32 // console port opens tried
	sig   *logSignal
	data  string // the board's data folder
}

// pacsPort, when not 0, is the port of the site's destination pacs (else
// 4242, where nothing listens).
func startConsoleBox(t *testing.T, device string, retry time.Duration, open serial.Opener, pacsPort int) *consoleBox {
	t.Helper()
	tmp := t.TempDir()
	port := testenv.FreePort(t)
	if pacsPort == 0 {
		pacsPort = 4242
	}
	site := testSite(t, port, "STORESCU", pacsDestination(pacsPort, "sr"), "")
	board := simBoard(t, filepath.Join(tmp, "data"))
	board.Serial.Console.Device = device
	ring, cring := NewLogRing(1000), console.NewRing(500)
	sig := newLogSignal(slog.NewMultiHandler(ring.Handler(slog.LevelDebug), cring.Handler(slog.LevelInfo)),
		"DICOM SCP listening", "control socket listening", "service console listening", "service console port open")
	log := slog.New(sig)
	svc := NewIntake(site, board, log)
	svc.Analyzer = &analyze.Analyzer{
		Model: &analyze.Model{
			Manifest: &manifest.Manifest{
				Schema: 1, Name: "consolenet", Version: "7.3", Precision: "int8", SHA256: strings.Repeat("cd", 32),
				Channels: []string{"black", "bright"}, BrightOnly: true, SpacingMM: [3]float64{1, 1, 1},
				Normalisation: manifest.Normalisation{Method: "zscore-mask"},
				Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
				Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, MinComponentMM3: 2},
			},
			Engine: consoleNet{},
			Plan:   infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1},
		},
		Equipment: report.Equipment{Manufacturer: "metsentry", ModelName: "test", SerialNumber: "0", SoftwareVersion: "test", DeviceUID: "2.25.1"},
	}
	ctl := &Control{Intake: svc, Version: "9.8.7", Log: log,
		Selftest: func(context.Context) (control.Selftest, error) {
			return control.Selftest{Passed: true, Report: "phantom lesion 1: found\nPASS"}, nil
		}}
	opens := &atomic.Int32{}
	if open == nil {
		open = serial.Open
	}
	con := &ConsoleService{Control: ctl, Ring: cring, Log: log, Slot: "b", Retry: retry,
		Open: func(dev string, baud int) (serial.Port, error) { opens.Add(1); return open(dev, baud) }}
	svc.Events = con.Observe(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []Service{svc, ctl, con} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("%s: %v", s.Name(), err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	sig.wait(t, t.Context(), "DICOM SCP listening")
	sig.wait(t, t.Context(), "control socket listening")
	return &consoleBox{log: log, ring: ring, cring: cring, port: port, opens: opens, sig: sig, data: board.Storage.DataDir}
}

// terminal is the engineer's end of the console cable.
type terminal struct {
	t   *testing.T
	f   *os.File
	out []byte
}

// until reads until the output from offset from holds want, and returns
// where want ends.
func (tm *terminal) until(from int, want string) int {
	tm.t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if i := bytes.Index(tm.out[from:], []byte(want)); i >= 0 {
			return from + i + len(want)
		}
		_ = tm.f.SetReadDeadline(deadline)
		n, err := tm.f.Read(buf)
		tm.out = append(tm.out, buf[:n]...)
		if err != nil {
			tm.t.Fatalf("console: waiting for %q: %v; got:\n%s", want, err, tm.out[from:])
		}
	}
}

// run types a command line and returns what the console answered, up to
// the next prompt.
func (tm *terminal) run(cmd string) string {
	tm.t.Helper()
	from := len(tm.out)
	if _, err := tm.f.Write([]byte(cmd + "\r")); err != nil {
		tm.t.Fatal(err)
	}
	start := tm.until(from, cmd+"\r\n")
	end := tm.until(start, console.Prompt)
	return strings.ReplaceAll(string(tm.out[start:end-len(console.Prompt)]), "\r\n", "\n")
}

// TestConsoleOnTheBoardPort: the daemon serves the service console on the
// board's console port (a pty cable, as tools/panelsim -console makes for
// the sim board). status, version and ae answer with the daemon's real
// state, model and site; after a study carrying a patient's name, ID and
// birth date was received, and a line that names the patient was logged,
// `log` shows the daemon's recent lines with none of them.
func TestConsoleOnTheBoardPort(t *testing.T) {
	dir := t.TempDir()
	dev, term := filepath.Join(dir, "console"), filepath.Join(dir, "console-term")
	bridge, err := sim.NewBridge(dev, term)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Close() })
	f, err := os.OpenFile(term, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	_, pacsPort := startPACS(t, t.Context(), testenv.Program(t, "storescp"), dir, nil)
	b := startConsoleBox(t, dev, 0, nil, pacsPort)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b.sig.wait(t, ctx, "service console listening")
	tm := &terminal{t: t, f: f}
	tm.until(0, console.Prompt) // the banner

	p := patient{"Quillfeather^Ottoline", "MSX0427719", "19381129"}
	storeAll(t, b.port, patientStudy(1, p, 4))
	b.log.Info("study received", "PatientName", p.name, "PatientID", p.id) // a leak the ring must redact

	// The study's job appears once its instances are indexed (a batch).
	status := tm.run("status")
	for end := time.Now().Add(10 * time.Second); strings.Contains(status, " 0 received") && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
		status = tm.run("status")
	}
	for _, re := range []string{`(?m)^state: +\S`, `(?m)^studies: +[1-9]\d* received`, `(?m)^outbox: +\d+ pending`, `(?m)^faults: `, `(?m)^uptime: `} {
		if !regexp.MustCompile(re).MatchString(status) {
			t.Errorf("status does not match %s:\n%s", re, status)
		}
	}
	version := tm.run("version")
	for _, want := range []string{"firmware: 9.8.7 (slot b)", "board:    sim", "model:    consolenet 7.3 (int8) sha256 " + strings.Repeat("cd", 32), "provider in use: cpu"} {
		if !strings.Contains(version, want) {
			t.Errorf("version lacks %q:\n%s", want, version)
		}
	}
	ae := tm.run("ae")
	for _, want := range []string{"local: METSENTRY on port " + strconv.Itoa(b.port), "pacs", "PACS", "127.0.0.1:" + strconv.Itoa(pacsPort)} {
		if !strings.Contains(ae, want) {
			t.Errorf("ae lacks %q:\n%s", want, ae)
		}
	}
	for _, c := range []struct{ cmd, want string }{
		{"echo pacs", "echo pacs: ok in "},                                    // dcmtk's storescp answers the box's C-ECHO
		{"echo nowhere", `no destination named "nowhere" (configured: pacs)`}, // the console's own check
		{"selftest", "ok   phantom lesion 1: found"},                          // the control socket's self-test
		{"selftest", "self-test passed"},
		{"disk", b.data}, // the cache's folder
	} {
		if out := tm.run(c.cmd); !strings.Contains(out, c.want) {
			t.Errorf("%s: no %q in:\n%s", c.cmd, c.want, out)
		}
	}
	if out := tm.run("reboot confirm"); !strings.Contains(out, "error: reboot:") || strings.Contains(out, "rebooting") {
		t.Errorf("reboot on a board that does not allow it did not refuse:\n%s", out)
	}
	logs := tm.run("log 500")
	if !strings.Contains(logs, "association") || !strings.Contains(logs, "PatientName="+console.Redacted) {
		t.Errorf("log does not show the association that brought the study and the redacted line:\n%s", logs)
	}
	if hits := identityHits(map[string][]byte{"console log": []byte(logs)}, []patient{p}); len(hits) > 0 {
		t.Errorf("patient identity on the console: %v", hits)
	}
}

// TestConsoleMissingDevice: a board whose console port is not there leaves
// the daemon serving DICOM (C-ECHO answers); the daemon says so in one log
// line naming the device however often it tries again, and a cable plugged
// in later is opened.
func TestConsoleMissingDevice(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "console")
	b := startConsoleBox(t, dev, 20*time.Millisecond, nil, 0)

	a, err := dimse.Dial(t.Context(), net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)), "STORESCU", "METSENTRY", dimse.VerificationContext())
	if err != nil {
		t.Fatalf("the daemon does not answer without its console: %v", err)
	}
	if err := a.Echo(t.Context()); err != nil {
		t.Fatalf("C-ECHO without a console: %v", err)
	}
	_ = a.Release(t.Context())

	deadline := time.Now().Add(10 * time.Second)
	for b.opens.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the console port was tried %d times in 10 s (retry every 20 ms)", b.opens.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lines []string
	for _, l := range strings.Split(string(b.ring.Bytes()), "\n") {
		if strings.Contains(l, "service console not available") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], dev) {
		t.Errorf("after %d tries, log lines about the missing console: %q; want one naming %s", b.opens.Load(), lines, dev)
	}

	bridge, err := sim.NewBridge(dev, filepath.Join(dir, "console-term"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bridge.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b.sig.wait(t, ctx, "service console port open")
}

// echoBox makes a C-ECHO to the daemon.
func echoBox(t *testing.T, port int) {
	t.Helper()
	a, err := dimse.Dial(t.Context(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "STORESCU", "METSENTRY", dimse.VerificationContext())
	if err != nil {
		t.Fatalf("the daemon does not answer: %v", err)
	}
	if err := a.Echo(t.Context()); err != nil {
		t.Fatalf("C-ECHO: %v", err)
	}
	_ = a.Release(t.Context())
}

// TestConsoleSessionEnds: a cable pulled in the middle of a session (the
// port fails) and one whose writes fail end only that session: the port is
// opened again and the next session answers, and the daemon serves DICOM
// throughout.
func TestConsoleSessionEnds(t *testing.T) {
	// Each open hands out a new cable: the daemon's end and the terminal's.
	cables := make(chan [2]*serialtest.Port, 4)
	open := func(dev string, baud int) (serial.Port, error) {
		a, b := serialtest.Pipe(dev, "terminal")
		cables <- [2]*serialtest.Port{a, b}
		return a, nil
	}
	b := startConsoleBox(t, "/dev/ttyTEST0", 20*time.Millisecond, open, 0)
	next := func() (daemonEnd, term *serialtest.Port) {
		t.Helper()
		select {
		case c := <-cables:
			return c[0], c[1]
		case <-time.After(10 * time.Second):
			t.Fatal("the console port was not opened again")
		}
		return nil, nil
	}
	readUntil := func(p *serialtest.Port, want string) string {
		t.Helper()
		var got []byte
		buf := make([]byte, 256)
		for !bytes.Contains(got, []byte(want)) {
			n, err := p.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("waiting for %q: %v; got %q", want, err, got)
			}
		}
		return string(got)
	}

	_, p := next()
	readUntil(p, console.Prompt)
	p.Close() // the cable is pulled
	echoBox(t, b.port)

	d, p := next()
	readUntil(p, console.Prompt)
	d.WriteErr = io.ErrClosedPipe // the engineer still types, but the daemon's writes fail
	p.Write([]byte("status\r"))
	echoBox(t, b.port)

	_, p = next()
	readUntil(p, console.Prompt)
	p.Write([]byte("ae\r"))
	if out := readUntil(p, "\r\n"+console.Prompt); !strings.Contains(out, "local: METSENTRY on port "+strconv.Itoa(b.port)) {
		t.Errorf("ae after two failed sessions:\n%s", out)
	}
	echoBox(t, b.port)
}
