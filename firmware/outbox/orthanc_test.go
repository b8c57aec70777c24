package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"

	"metsentry/firmware/config"
	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/report"
	"metsentry/firmware/testenv"
)

// orthanc is a real PACS on loopback, started and killed by the test.
type orthanc struct {
	http, dicom int
	cmd         *exec.Cmd
	log         lockedBuffer
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startOrthanc(t *testing.T, dicomPort int) *orthanc {
	t.Helper()
	prog := testenv.Program(t, "Orthanc")
	dir := t.TempDir()
	o := &orthanc{http: testenv.FreePort(t), dicom: dicomPort}
	cfg := map[string]any{
		"Name": "metsentry-test", "StorageDirectory": filepath.Join(dir, "db"), "IndexDirectory": filepath.Join(dir, "db"),
		"HttpPort": o.http, "DicomPort": o.dicom, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"DicomAet": "ORTHANC", "DicomCheckCalledAet": false, "Plugins": []string{}, "HttpServerEnabled": true,
		"DicomServerEnabled": true, "SaveJobs": false, "DicomModalities": map[string]any{},
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	o.cmd = exec.Command(prog, path)
	o.cmd.Stdout, o.cmd.Stderr = &o.log, &o.log
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.cmd.Process.Kill()
		o.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v map[string]any
		if err := o.get("/system", &v); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Orthanc did not answer on 127.0.0.1:%d within 30 s:\n%s", o.http, o.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return o
}

func (o *orthanc) get(path string, v any) error {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", o.http, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// countingSender counts the files a Sender reports as stored.
type countingSender struct {
	Sender
	mu     sync.Mutex
	stored map[string]int
	calls  int
}

func (c *countingSender) Send(ctx context.Context, d config.Destination, files []string) ([]Result, error) {
	res, err := c.Sender.Send(ctx, d, files)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.stored == nil {
		c.stored = map[string]int{}
	}
	for _, r := range res {
		if r.Err == nil {
			c.stored[r.Path]++
		}
	}
	return res, err
}

// makeResults writes SEG, SR and SC for two spherical lesions on the real
// Philips series and returns them with the source files.
func makeResults(t *testing.T) (report.Files, []string, *report.Source) {
	t.Helper()
	dir := testenv.SharedData(t, "dicom", "philips-mprage-sag3d")
	names, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no DICOM files in %s", dir)
	}
	sort.Strings(names)
	var dss []dicom.Dataset
	for _, n := range names {
		ds, err := dicom.ParseFile(n, nil, dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		dss = append(dss, ds)
	}
	src, err := report.SourceFromDatasets(dss)
	if err != nil {
		t.Fatal(err)
	}
	g := src.Grid()
	prob := make([]float32, g.Len())
	for _, c := range [][4]int{{128, 100, 80, 5}, {60, 150, 120, 3}} {
		r := c[3]
		for k := c[2] - r; k <= c[2]+r; k++ {
			for j := c[1] - r; j <= c[1]+r; j++ {
				for i := c[0] - r; i <= c[0]+r; i++ {
					if math.Hypot(math.Hypot(float64(i-c[0]), float64(j-c[1])), float64(k-c[2])) <= float64(r) {
						prob[g.Index(i, j, k)] = 0.9
					}
				}
			}
		}
	}
	ls, err := detect.Find(prob, g, detect.Params{Threshold: 0.5, MinComponentMM3: 1}, detect.Reference{})
	if err != nil {
		t.Fatal(err)
	}
	same := func(l []uint16, _, _ geom.Grid) ([]uint16, error) { return l, nil } // model grid = source grid
	lab, err := detect.SourceLabels(ls, g, g, same)
	if err != nil {
		t.Fatal(err)
	}
	in := &report.Input{Source: src, Lesions: ls, Labels: lab,
		Equipment: report.Equipment{Manufacturer: "metsentry project", ModelName: "metsentry sim", SerialNumber: "T1",
			SoftwareVersion: "0.1.0-test", DeviceUID: "2.25.42"},
		Algorithm: report.Algorithm{Name: "metsentry-unet", Version: "1.0.0"},
		Time:      time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), SeriesNumber: 9001}
	files, err := report.Write(t.TempDir(), in, report.NewIDs(len(ls)))
	if err != nil {
		t.Fatal(err)
	}
	return files, names, src
}

// TestOrthancDelivery sends real results through our SCU (firmware/dimse)
// to two Orthanc instances: "pacs" takes SEG, SR and SC and is down at the
// first attempt; "console" is configured without SEG. Orthanc's REST API
// must then list the results under the source's patient and study, each
// file stored once.
func TestOrthancDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two Orthanc servers")
	}
	files, sources, src := makeResults(t)
	pacsPort := testenv.FreePort(t) // nothing listens here yet: the PACS is down
	console := startOrthanc(t, testenv.FreePort(t))
	dests := []config.Destination{
		{Name: "pacs", AETitle: "ORTHANC", Host: "127.0.0.1", Port: pacsPort, Send: []string{"seg", "sr", "sc"}},
		{Name: "console", AETitle: "ORTHANC", Host: "127.0.0.1", Port: console.dicom, Send: []string{"sr", "sc"}},
	}
	cs := &countingSender{Sender: &DimseSender{CallingAE: "METSENTRY", Timeout: time.Minute}}
	clk := &fakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	ob, err := New(dests, cs, clk, Policy{Base: 10 * time.Second, Max: time.Minute, MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Enqueue(src.SeriesInstanceUID, "v1", files); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ob.RunDue(ctx)
	st := ob.Status()
	if st.Delivered != 1 || st.Pending != 1 || st.Jobs[0].Destination != "pacs" || st.Jobs[0].Attempts != 1 {
		t.Fatalf("with the PACS down: %+v", st)
	}
	t.Logf("PACS down: %s", st.Jobs[0].LastError)

	pacs := startOrthanc(t, pacsPort)
	// The source images go to the PACS too (two of them, through the same
	// SCU), so Orthanc can show where the results file.
	if _, err := (&DimseSender{CallingAE: "METSENTRY"}).Send(ctx, dests[0], sources[:2]); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * time.Second)
	ob.RunDue(ctx)
	if st := ob.Status(); st.Delivered != 2 || st.Pending != 0 || st.Dead != 0 {
		t.Fatalf("after the PACS came up: %+v", st)
	}
	for _, f := range files.All() {
		want := 2 // both destinations
		if f == files.SEG {
			want = 1
		}
		if cs.stored[f] != want {
			t.Errorf("%s stored %d times, want %d", filepath.Base(f), cs.stored[f], want)
		}
	}

	check := func(o *orthanc, name string, wantSeries map[string]int) {
		t.Helper()
		var patients, studies []string
		if err := o.get("/patients", &patients); err != nil {
			t.Fatal(err)
		}
		if err := o.get("/studies", &studies); err != nil {
			t.Fatal(err)
		}
		if len(patients) != 1 || len(studies) != 1 {
			t.Fatalf("%s: %d patients, %d studies (want 1 and 1)", name, len(patients), len(studies))
		}
		var study struct {
			MainDicomTags struct{ StudyInstanceUID string }
			Series        []string
		}
		if err := o.get("/studies/"+studies[0], &study); err != nil {
			t.Fatal(err)
		}
		if study.MainDicomTags.StudyInstanceUID != src.StudyInstanceUID {
			t.Errorf("%s: results filed under another study", name)
		}
		got := map[string]int{}
		for _, id := range study.Series {
			var se struct {
				MainDicomTags struct{ Modality string }
				Instances     []string
			}
			if err := o.get("/series/"+id, &se); err != nil {
				t.Fatal(err)
			}
			got[se.MainDicomTags.Modality] += len(se.Instances)
		}
		if fmt.Sprint(got) != fmt.Sprint(wantSeries) {
			t.Errorf("%s: instances per modality %v, want %v", name, got, wantSeries)
		}
	}
	check(pacs, "pacs", map[string]int{"MR": 2, "SEG": 1, "SR": 1, "OT": len(files.SC)})
	check(console, "console", map[string]int{"SR": 1, "OT": len(files.SC)})
}
