package daemon

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"metsentry/firmware/control"
	"metsentry/firmware/dcmguard/dcmguardtest"
	"metsentry/firmware/dimse"
	"metsentry/firmware/testenv"
)

// logSignal passes records to a handler and closes a channel the first
// time a record with a watched message is handled, so tests wait for
// "listening" without sleeping.
type logSignal struct {
	slog.Handler
	mu    *sync.Mutex
	watch map[string]chan struct{}
}

func newLogSignal(h slog.Handler, msgs ...string) *logSignal {
	l := &logSignal{Handler: h, mu: &sync.Mutex{}, watch: map[string]chan struct{}{}}
	for _, m := range msgs {
		l.watch[m] = make(chan struct{})
	}
	return l
}

func (l *logSignal) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	if c, ok := l.watch[r.Message]; ok {
		select {
		case <-c:
		default:
			close(c)
		}
	}
	l.mu.Unlock()
	return l.Handler.Handle(ctx, r)
}

func (l *logSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSignal{Handler: l.Handler.WithAttrs(as), mu: l.mu, watch: l.watch}
}

func (l *logSignal) WithGroup(n string) slog.Handler {
	return &logSignal{Handler: l.Handler.WithGroup(n), mu: l.mu, watch: l.watch}
}

func (l *logSignal) wait(t *testing.T, ctx context.Context, msg string) {
	t.Helper()
	select {
	case <-l.watch[msg]:
	case <-ctx.Done():
		t.Fatalf("no log line %q", msg)
	}
}

// testBox is an intake service and its control socket, in process.
type testBox struct {
	svc    *Intake
	ctl    *Control
	ring   *LogRing
	log    *slog.Logger
	port   int
	socket string
	data   string
}

// startBox runs an intake service and its control socket until the test
// ends. destsYAML lists the site's destinations; setup, when not nil,
// configures the service (a model, a sender, metrics) and may add services.
func startBox(t *testing.T, destsYAML string, setup func(*Intake, *Control) []Service) *testBox {
	t.Helper()
	tmp := t.TempDir()
	port := testenv.FreePort(t)
	site := testSite(t, port, "STORESCU", destsYAML, "status:\n  listen: \"\"\n")
	sitePath := filepath.Join(tmp, "site.yaml")
	os.WriteFile(sitePath, []byte("ae_title: METSENTRY\n"), 0o644)
	board := simBoard(t, filepath.Join(tmp, "data"))
	ring := NewLogRing(1000)
	sig := newLogSignal(ring.Handler(slog.LevelDebug), "DICOM SCP listening", "control socket listening")
	log := slog.New(sig)
	svc := NewIntake(site, board, log)
	ctl := &Control{Intake: svc, Version: "test", Logs: ring, Log: log, ConfigFiles: map[string]string{"site.yaml": sitePath}}
	services := []Service{svc, ctl}
	if setup != nil {
		services = append(services, setup(svc, ctl)...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range services {
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
	return &testBox{svc: svc, ctl: ctl, ring: ring, log: log, port: port, socket: ctl.SocketPath(), data: board.Storage.DataDir}
}

// patient is the identity a test study carries.
type patient struct{ name, id, birth string }

// element encodes one Explicit VR Little Endian element with a short
// length, padded to an even length with pad.
func element(group, elem uint16, vr, value string, pad byte) []byte {
	if len(value)%2 == 1 {
		value += string(pad)
	}
	b := binary.LittleEndian.AppendUint16(nil, group)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = append(b, vr...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// patientStudy returns n valid MR images of one study (UID suffix k) that
// carry p's name, ID and birth date.
func patientStudy(k int, p patient, n int) [][]byte {
	var files [][]byte
	for i := range n {
		im := dcmguardtest.DefaultImage(i + 1)
		suffix := "." + strconv.Itoa(k)
		im.StudyInstanceUID += suffix
		im.SeriesInstanceUID += suffix
		im.SOPInstanceUID = fmt.Sprintf("%s.%d", im.SeriesInstanceUID, i+1)
		im.Extra = slicesConcat(
			element(0x0010, 0x0010, "PN", p.name, ' '),
			element(0x0010, 0x0020, "LO", p.id, ' '),
			element(0x0010, 0x0030, "DA", p.birth, ' '))
		files = append(files, im.File(dcmguardtest.ExplicitVRLittleEndian))
	}
	return files
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// storeAll sends files to the box with C-STORE as STORESCU.
func storeAll(t *testing.T, port int, files [][]byte) {
	t.Helper()
	a, err := dimse.Dial(t.Context(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "STORESCU", "METSENTRY",
		dimse.StorageContexts(dcmguardtest.MRImageStorage)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := a.StoreBytes(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// untar returns every file of a tar.gz, decompressed.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

// identityHits lists where any of the patients' name, ID or birth date
// appears in files (case-insensitive, and the name's parts on their own).
func identityHits(files map[string][]byte, ps []patient) []string {
	return identityHitsIn(files, ps, true)
}

// identityHitsIn is identityHits; parts says whether the parts of each
// name count on their own.
func identityHitsIn(files map[string][]byte, ps []patient, parts bool) []string {
	var hits []string
	for name, b := range files {
		low := bytes.ToLower(b)
		for _, p := range ps {
			needles := []string{p.name, p.id, p.birth}
			if parts {
				needles = append(needles, strings.Split(p.name, "^")...)
			}
			for _, n := range needles {
				if n == "" {
					continue
				}
				if bytes.Contains(low, bytes.ToLower([]byte(n))) {
					hits = append(hits, fmt.Sprintf("%s holds %q", name, n))
				}
			}
		}
	}
	return hits
}

// TestDiagHasNoPatientData: a box receives two studies carrying patient
// names, IDs and birth dates (the cache holds them); the diagnostics
// bundle, every byte decompressed, holds none of them. The same scan finds
// the name once a log line leaks it, so it would catch a leak.
func TestDiagHasNoPatientData(t *testing.T) {
	ps := []patient{
		{"Quillfeather^Ottoline", "MSX0427719", "19381129"},
		{"Brannigan^Zebedee", "HQ7730215", "19520307"},
	}
	for _, tc := range []struct {
		name     string
		leak     func(log *slog.Logger)
		wantHits bool
	}{
		{"clean", nil, false},
		{"a log line leaks the name", func(log *slog.Logger) { log.Info("study received", "patient", ps[0].name) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBox(t, "  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242, send: [sr]}", nil)
			for i, p := range ps {
				storeAll(t, b.port, patientStudy(i+1, p, 4))
			}
			// The identities did reach the box: its cache holds them.
			cached := map[string][]byte{}
			filepath.WalkDir(b.data, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".dcm") {
					cached[p], _ = os.ReadFile(p)
				}
				return nil
			})
			if len(identityHits(cached, ps)) < len(ps)*3 {
				t.Fatalf("the cache (%d files) does not hold the test identities: the test sends nothing", len(cached))
			}
			if tc.leak != nil {
				tc.leak(b.log)
			}
			var d control.Diag
			if err := control.Call(t.Context(), b.socket, control.Request{Cmd: control.CmdDiag}, nil, &d); err != nil {
				t.Fatal(err)
			}
			files := untar(t, d.Data)
			for _, want := range []string{"config/site.yaml", "versions.txt", "status.json", "jobs.txt", "logs.txt", "metrics.txt"} {
				if _, ok := files[strings.TrimSuffix(d.Name, ".tar.gz")+"/"+want]; !ok {
					t.Errorf("bundle %s lacks %s (has %d files)", d.Name, want, len(files))
				}
			}
			logs := files[strings.TrimSuffix(d.Name, ".tar.gz")+"/logs.txt"]
			if !bytes.Contains(logs, []byte("association")) {
				t.Errorf("the bundle's logs do not show the associations that brought the studies:\n%s", logs)
			}
			hits := identityHits(files, ps)
			if (len(hits) > 0) != tc.wantHits {
				t.Errorf("patient identity in the bundle: %v; want hits %v", hits, tc.wantHits)
			}
		})
	}
}
