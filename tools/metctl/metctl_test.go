package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"metsentry/boards"
	"metsentry/firmware/config"
	"metsentry/firmware/control"
	"metsentry/firmware/daemon"
	"metsentry/firmware/dcmguard/dcmguardtest"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
)

// logSignal closes ready the first time a record with message msg is logged.
type logSignal struct {
	slog.Handler
	msg   string
	once  *sync.Once
	ready chan struct{}
}

func (*logSignal) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == s.msg {
		s.once.Do(func() { close(s.ready) })
	}
	return s.Handler.Handle(ctx, r)
}

func (s *logSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSignal{Handler: s.Handler.WithAttrs(as), msg: s.msg, once: s.once, ready: s.ready}
}

// startPACS runs a C-STORE SCP (AE PACS) that keeps what METSENTRY sends
// in a folder, and returns its port and folder.
func startPACS(t *testing.T) (int, string) {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dimse.Server{Policy: dimse.Policy{AETitle: "PACS", AllowedPeers: []dimse.Peer{{AETitle: "METSENTRY", Prefix: netip.MustParsePrefix("127.0.0.1/32")}}},
		Storage: dimse.DirStorage{Dir: dir}, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); srv.Shutdown(context.Background()); <-done })
	return ln.Addr().(*net.TCPAddr).Port, dir
}

// startBox runs a daemon's intake service (no model) and control socket
// with destinations pacs (at pacsPort) and down (nothing listens), and
// returns the socket path.
func startBox(t *testing.T, pacsPort int, setup ...func(*daemon.Control)) string {
	t.Helper()
	tmp := t.TempDir()
	site, err := config.ParseSite("site.yaml", []byte(fmt.Sprintf(`ae_title: METSENTRY
port: %d
bind: 127.0.0.1
allowed_peers:
  - {ae_title: STORESCU, address: 127.0.0.1}
destinations:
  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: %d, send: [sr]}
  - {name: down, ae_title: DOWN, host: 127.0.0.1, port: %d, send: [sr]}
status:
  listen: ""
`, testenv.FreePort(t), pacsPort, testenv.FreePort(t))))
	if err != nil {
		t.Fatal(err)
	}
	data, file, _ := boards.File("sim")
	board, err := config.ParseBoard(file, data)
	if err != nil {
		t.Fatal(err)
	}
	board.Storage.DataDir = filepath.Join(tmp, "data")
	sig := &logSignal{Handler: slog.DiscardHandler, msg: "DICOM SCP listening", once: &sync.Once{}, ready: make(chan struct{})}
	ctlSig := &logSignal{Handler: sig, msg: "control socket listening", once: &sync.Once{}, ready: make(chan struct{})}
	log := slog.New(ctlSig)
	svc := daemon.NewIntake(site, board, log)
	ctl := &daemon.Control{Intake: svc, Version: "test", Log: log, Logs: daemon.NewLogRing(100)}
	for _, f := range setup {
		f(ctl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []daemon.Service{svc, ctl} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, c := range []chan struct{}{sig.ready, ctlSig.ready} {
		select {
		case <-c:
		case <-t.Context().Done():
			t.Fatal("the box did not start")
		}
	}
	return ctl.SocketPath()
}

func metctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Each command against a running daemon: what it prints, its exit status,
// and what it did (files at the PACS, a bundle written).
func TestCommands(t *testing.T) {
	pacsPort, pacsDir := startPACS(t)
	socket := startBox(t, pacsPort)
	study := t.TempDir()
	for i := range 5 {
		os.WriteFile(filepath.Join(study, fmt.Sprintf("im%d.dcm", i)), dcmguardtest.DefaultImage(i+1).File(dcmguardtest.ExplicitVRLittleEndian), 0o644)
	}
	os.WriteFile(filepath.Join(study, "README.txt"), []byte("not DICOM"), 0o644)
	bundle := filepath.Join(t.TempDir(), "diag.tar.gz")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stdout (exit 0) or stderr
		check    func(t *testing.T)
	}{
		{"status", []string{"status"}, 0, "model:       none", nil},
		{"echo", []string{"echo", "pacs"}, 0, "C-ECHO pacs (PACS at 127.0.0.1:", nil},
		{"echo a destination that is down", []string{"echo", "down"}, 1, "C-ECHO down (DOWN@127.0.0.1:", nil},
		{"echo an unknown destination", []string{"echo", "nowhere"}, 1, `no destination "nowhere" in the site file (it has: pacs, down)`, nil},
		{"send", []string{"send", study, "pacs"}, 0, "sent 5 files to pacs", func(t *testing.T) {
			got, _ := filepath.Glob(filepath.Join(pacsDir, "*.dcm"))
			if len(got) != 5 {
				t.Errorf("the PACS holds %d files; want 5", len(got))
			}
		}},
		{"diag", []string{"diag", "-o", bundle}, 0, bundle, func(t *testing.T) {
			b, err := os.ReadFile(bundle)
			if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%s is not a gzip file (%v)", bundle, err)
			}
		}},
		{"replay without a model", []string{"replay", "1.2.3"}, 1, "no model", nil},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`, nil},
		{"missing argument", []string{"echo"}, 2, "echo takes a destination name", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := metctl(t, append([]string{"--quiet", "--socket", socket}, tc.args...)...)
			text := out
			if tc.wantCode != 0 {
				text = errs
			}
			if code != tc.wantCode || !strings.Contains(text, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and %q", code, out, errs, tc.wantCode, tc.want)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

// Without a daemon, or with a socket this user may not open, metctl says
// so and what to do.
func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := metctl(t, "--socket", filepath.Join(dir, "control.sock"), "status")
	if code != 1 || !strings.Contains(errs, "the daemon is not running") || !strings.Contains(errs, "systemctl start metsentry") {
		t.Errorf("exit %d, stderr %q; want 1 and that the daemon is not running", code, errs)
	}
}

// rules test runs the site's rules on a folder of real scanner files: the
// Philips MPRAGE has no contrast agent, so the example site's rules pass it
// over, saying why; a site that does not require contrast picks it as the
// T1 fallback.
func TestRulesTest(t *testing.T) {
	dir := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	example, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "firmware", "cmd", "metsentryd", "site.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	noContrast := bytes.ReplaceAll(example, []byte("require_contrast: true"), []byte("require_contrast: false"))
	for _, tc := range []struct {
		name string
		site []byte
		want []string
	}{
		{"contrast required", example, []string{`series 1301 "ADNI_Sag3D MPRAGE": 170 images`, "picked: nothing",
			"series 1301 skipped for the T1 fallback: no ContrastBolusAgent"}},
		{"contrast not required", noContrast, []string{"picked: rule t1_fallback: series 1301 as t1", "T1 fallback chosen: series 1301, 170 images"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := filepath.Join(t.TempDir(), "site.yaml")
			os.WriteFile(site, tc.site, 0o644)
			code, out, errs := metctl(t, "rules", "test", "--site", site, dir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// selftest prints the daemon's report and exits 1 when it failed; model
// install passes the bundle's absolute path and prints what was installed,
// or the daemon's refusal.
func TestSelftestAndInstall(t *testing.T) {
	pass := true
	var gotPath string
	var ctl *daemon.Control
	restarted := make(chan struct{}, 1)
	socket := startBox(t, testenv.FreePort(t), func(c *daemon.Control) {
		ctl = c
		c.Selftest = func(context.Context) (control.Selftest, error) {
			if pass {
				return control.Selftest{Passed: true, Report: "3 lesions found\nPASS\n"}, nil
			}
			return control.Selftest{Report: "FAIL: the model could not be opened: metnet-fp32.onnx hashes to 00\n"}, nil
		}
		c.Install = func(_ context.Context, path string, progress func(string)) (control.Install, error) {
			gotPath = path
			for _, s := range []string{"verify", "unpack", "switch", "self-test"} {
				progress(s)
			}
			if strings.Contains(path, "bad") {
				return control.Install{}, errors.New("update: bundle refused: bundle: signed by a key that is not trusted")
			}
			return control.Install{Version: "1.4.0", Slot: "b", KeyID: "k1", Previous: "a", PreviousVersion: "1.3.0"}, nil
		}
	})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.bundle"), filepath.Join(dir, "bad.bundle")
	os.WriteFile(good, []byte("x"), 0o644)
	os.WriteFile(bad, []byte("x"), 0o644)
	t.Chdir(dir)
	for _, tc := range []struct {
		name     string
		pass     bool
		args     []string
		wantCode int
		want     string
		// restart: the daemon runs under systemd and restarts itself after
		// a passed install (daemon.Control.Restart).
		restart bool
	}{
		{"selftest passes", true, []string{"selftest"}, 0, "PASS", false},
		{"selftest fails", false, []string{"selftest"}, 1, "FAIL: the model could not be opened", false},
		{"install", true, []string{"model", "install", "good.bundle"}, 0,
			"installed 1.4.0 in slot b (was 1.3.0 in slot a), signed by k1; self-test passed.\nthe daemon still runs the release it started with; restart it to run 1.4.0: sudo systemctl restart metsentry", false},
		{"install, the daemon restarts", true, []string{"model", "install", "good.bundle"}, 0,
			"self-test passed.\nmetsentryd restarts into 1.4.0 now (systemd starts slot b's binary in a few seconds); check with: metctl status", true},
		{"install refused", true, []string{"model", "install", "bad.bundle"}, 1, "signed by a key that is not trusted", true},
		{"install a missing file", true, []string{"model", "install", "none.bundle"}, 1, "none.bundle", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pass = tc.pass
			ctl.Restart = nil
			if tc.restart {
				ctl.Restart = func() { restarted <- struct{}{} }
			}
			code, out, errs := metctl(t, append([]string{"--quiet", "--socket", socket}, tc.args...)...)
			if code != tc.wantCode || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and %q", code, out, errs, tc.wantCode, tc.want)
			}
			if tc.restart && code == 0 {
				select {
				case <-restarted:
				case <-time.After(10 * time.Second):
					t.Fatal("the daemon was not restarted after the install passed")
				}
			}
			select {
			case <-restarted:
				t.Fatal("the daemon was restarted; want it to run on")
			default:
			}
		})
	}
	if gotPath != bad {
		t.Errorf("the daemon was given %q; want the absolute path %q", gotPath, bad)
	}
}
