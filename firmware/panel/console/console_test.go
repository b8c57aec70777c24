package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/panel/console"
	"metsentry/firmware/testenv"
	"metsentry/hal/serial"
	"metsentry/hal/serial/serialtest"
	"metsentry/hal/thermal"
)

// patient holds the identifying values of a real test study.
type patient struct{ name, id, birth string }

func realPatient(t *testing.T) patient {
	t.Helper()
	dir := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	files, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no DICOM files in %s", dir)
	}
	ds, err := dicom.ParseFile(files[0], nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	get := func(tg tag.Tag) string {
		el, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatalf("%s has no %v: %v", files[0], tg, err)
		}
		v := strings.TrimSpace(strings.Join(dicom.MustGetStrings(el.Value), "^"))
		if v == "" {
			t.Fatalf("%s has an empty %v; the test needs a real value", files[0], tg)
		}
		return v
	}
	return patient{get(tag.PatientName), get(tag.PatientID), get(tag.PatientBirthDate)}
}

type fakes struct {
	rebooted int
	echoed   []string
}

func newConsole(t *testing.T, p patient) (*console.Console, *fakes) {
	t.Helper()
	f := &fakes{}
	ring := console.NewRing(50)
	log := slog.New(ring.Handler(slog.LevelInfo))
	// What a careless caller might log while handling the real study.
	log.Info("dimse: stored instance", "PatientName", p.name, "PatientID", p.id, "sop", "1.2.840.1")
	log.With("patient_id", p.id).Warn("intake: series incomplete", "series", "1.2.3.4")
	log.WithGroup("Patient").Info("cache: indexed", "Name", p.name, "BirthDate", p.birth)
	log.Info("report: sent", slog.Group("patient", "name", p.name), "(0010,0020)", p.id, "00100030", p.birth)
	log.Debug("not kept: below the ring's level")
	log.Info("detect: done", "lesions", 3, "ms", 812)

	c := console.New(console.Config{
		Status: func() console.Status {
			return console.Status{State: "idle", Panel: "positive (3)", Faults: []string{"E0501 thermal critical"},
				Uptime: 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, Received: 12, Processed: 11, Positive: 4, Negative: 7, Failed: 1,
				OutboxPending: 2, Throttled: true, PanelLink: "up (/dev/ttyTHS1@115200)"}
		},
		Version: func() console.Version {
			return console.Version{Firmware: "1.4.0", Commit: "abc1234", Built: "2026-11-26", Board: "jetson-orin-nano",
				Model: "metsentry-visible v3 int8", ModelSHA: "9f86d081", Runtime: "onnxruntime 1.24.1 (tensorrt, cuda, cpu)"}
		},
		Net: func() ([]console.Interface, error) {
			return []console.Interface{{Name: "eth0", MAC: "48:b0:2d:01:02:03", Up: true, Addrs: []string{"10.1.2.3/24"}}, {Name: "wlan0", MAC: "00:00:00:00:00:01"}}, nil
		},
		AE: func() console.AE {
			return console.AE{LocalAE: "METSENTRY", Port: 11112, Destinations: []console.Destination{
				{Name: "pacs", AE: "ORTHANC", Host: "10.1.2.10", Port: 4242}, {Name: "console", AE: "MRC1", Host: "10.1.2.20", Port: 104}}}
		},
		Echo: func(_ context.Context, dest string) (time.Duration, error) {
			f.echoed = append(f.echoed, dest)
			if dest == "console" {
				return 0, errors.New("dimse: connect 10.1.2.20:104: connection refused")
			}
			return 12 * time.Millisecond, nil
		},
		SelfTest: func(context.Context) []console.Check {
			return []console.Check{{Name: "model sha256"}, {Name: "cache writable"}, {Name: "panel link", Err: errors.New("panel: no answer within 1s")}}
		},
		Log: ring,
		Temp: func() thermal.Reading {
			return thermal.Reading{Level: thermal.Throttle, Hottest: "gpu-thermal", MaxC: 86.5, Zones: []thermal.ZoneReading{
				{Name: "cpu-thermal", C: 61.25}, {Name: "gpu-thermal", C: 86.5}, {Name: "soc0-thermal", Err: errors.New("read failed")}}}
		},
		Disk: func() ([]console.Disk, error) {
			return []console.Disk{{Path: "/var/lib/metsentry", TotalBytes: 100 << 30, FreeBytes: 25 << 30}}, nil
		},
		Reboot: func() error { f.rebooted++; return nil },
	})
	return c, f
}

func TestCommands(t *testing.T) {
	p := realPatient(t)
	tests := []struct {
		line    string
		want    []string // substrings of the output, in order
		wantErr error    // nil, ErrUsage, or errAny
	}{
		{"help", []string{"ae", "disk", "echo <dest>", "help", "log [n]", "net", "reboot [confirm]", "selftest", "status", "temp", "version"}, nil},
		{"status", []string{"state:      idle", "panel:      positive (3)", "panel link: up", "faults:     E0501 thermal critical", "uptime:     26h3m4s",
			"studies:    12 received, 11 analysed (4 positive, 7 negative), 1 failed", "outbox:     2 pending", "throttled"}, nil},
		{"version", []string{"firmware: 1.4.0 (abc1234, built 2026-11-26)", "board:    jetson-orin-nano", "model:    metsentry-visible v3 int8 sha256 9f86d081", "onnxruntime 1.24.1"}, nil},
		{"net", []string{"eth0", "up", "48:b0:2d:01:02:03", "10.1.2.3/24", "wlan0", "down", "no address"}, nil},
		{"ae", []string{"local: METSENTRY on port 11112", "pacs", "ORTHANC", "10.1.2.10:4242", "console", "MRC1"}, nil},
		{"echo pacs", []string{"echo pacs: ok in 12ms"}, nil},
		{"echo console", []string{"error: echo console failed: dimse: connect 10.1.2.20:104: connection refused"}, errAny},
		{"echo nowhere", []string{`error: bad command: no destination named "nowhere" (configured: pacs, console)`}, console.ErrUsage},
		{"echo", []string{"usage: echo <dest>"}, console.ErrUsage},
		{"selftest", []string{"ok   model sha256", "ok   cache writable", "FAIL panel link: panel: no answer within 1s", "1 check(s) failed"}, errAny},
		{"log", []string{"dimse: stored instance", "PatientName=[redacted]", "PatientID=[redacted]", "patient_id=[redacted]", "Patient.Name=[redacted]", "Patient.BirthDate=[redacted]",
			"patient.name=[redacted]", "(0010,0020)=[redacted]", "00100030=[redacted]", "detect: done\" lesions=3"}, nil},
		{"log 1", []string{"detect: done"}, nil},
		{"log zero", []string{"n must be a number from 1 to 1000"}, console.ErrUsage},
		{"temp", []string{"cpu-thermal", "61.2 °C", "gpu-thermal", "86.5 °C", "soc0-thermal", "error: read failed", "level: throttle"}, nil},
		{"disk", []string{"/var/lib/metsentry", "25.0 GiB free of 100.0 GiB (75% used)"}, nil},
		{"reboot", []string{"type: reboot confirm"}, nil},
		{"reboot now", []string{"usage: reboot confirm"}, console.ErrUsage},
		{"reboot confirm", []string{"rebooting"}, nil},
		{"STATUS", []string{"state:      idle"}, nil},
		{"frobnicate", []string{`error: bad command: unknown command "frobnicate" (type help for the list)`}, console.ErrUsage},
		{"status extra", []string{"status takes no arguments"}, console.ErrUsage},
		{"", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c, f := newConsole(t, p)
			var out bytes.Buffer
			err := c.Exec(context.Background(), tt.line, &out)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			s := out.String()
			rest := s
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, s)
				}
				rest = rest[i+len(w):]
			}
			assertNoPatient(t, p, s)
			if tt.line == "reboot confirm" && f.rebooted != 1 {
				t.Errorf("reboot confirm rebooted %d times", f.rebooted)
			}
			if (tt.line == "reboot" || tt.line == "reboot now") && f.rebooted != 0 {
				t.Error("reboot without confirm rebooted")
			}
			if tt.line == "echo nowhere" && len(f.echoed) != 0 {
				t.Errorf("echo to an unknown destination reached the network: %v", f.echoed)
			}
		})
	}
}

var errAny = errors.New("any error")

func assertNoPatient(t *testing.T, p patient, out string) {
	t.Helper()
	for _, v := range []string{p.name, p.id, p.birth} {
		if strings.Contains(out, v) {
			t.Errorf("output contains patient data %q:\n%s", v, out)
		}
	}
}

func TestUnavailableCommands(t *testing.T) {
	c := console.New(console.Config{})
	for _, line := range []string{"status", "version", "net", "ae", "echo pacs", "selftest", "log", "temp", "disk", "reboot confirm"} {
		var out bytes.Buffer
		if err := c.Exec(context.Background(), line, &out); err == nil || !strings.Contains(out.String(), "not available") {
			t.Errorf("%s with no provider: err %v, output %q", line, err, out.String())
		}
	}
}

func TestServeOverSerial(t *testing.T) {
	p := realPatient(t)
	c, _ := newConsole(t, p)
	host, term := serialtest.Pipe("console", "terminal")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, host) }()
	// An engineer types with a typo fixed by backspace, CR LF line ends, a
	// ^C, and a bad command.
	typed := "statuz\x7fs\r\nlog 5\rjunk\x03bogus\n"
	if _, err := term.Write([]byte(typed)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(got.String(), console.Prompt) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("console output so far:\n%s", got.String())
		}
		n, err := term.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
	}
	term.Close()
	if err := <-done; !errors.Is(err, serial.ErrClosed) {
		t.Errorf("Serve on an unplugged line returned %v, want serial.ErrClosed", err)
	}
	s := got.String()
	for _, w := range []string{"type help\r\n", "statuz\b \bs\r\n", "state:      idle\r\n", "log 5\r\n", "detect: done", "junk^C\r\n", `unknown command "bogus"`} {
		if !strings.Contains(s, w) {
			t.Errorf("terminal lacks %q:\n%s", w, s)
		}
	}
	assertNoPatient(t, p, s)
}

func TestRingKeepsTheNewest(t *testing.T) {
	r := console.NewRing(3)
	log := slog.New(r.Handler(nil))
	for i := range 5 {
		log.Info(fmt.Sprint("line ", i))
	}
	got := r.Last(10)
	if len(got) != 3 || !strings.Contains(got[0], "line 2") || !strings.Contains(got[2], "line 4") {
		t.Errorf("Last(10) = %q, want lines 2 to 4", got)
	}
	if got := r.Last(1); len(got) != 1 || !strings.Contains(got[0], "line 4") {
		t.Errorf("Last(1) = %q", got)
	}
}

func TestIsPatientKey(t *testing.T) {
	for key, want := range map[string]bool{
		"PatientName": true, "PatientID": true, "PatientBirthDate": true, "patient_id": true, "Patient-Name": true,
		"OtherPatientIDs": true, "IssuerOfPatientID": true, "(0010,0010)": true, "00100020": true, "0010,0030": true,
		"series": false, "StudyInstanceUID": false, "name": false, "00080020": false, "lesions": false,
	} {
		if got := console.IsPatientKey(key); got != want {
			t.Errorf("IsPatientKey(%q) = %v, want %v", key, got, want)
		}
	}
}
