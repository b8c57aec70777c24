//go:build !race

// A whole study through the pipeline (assembly, the stand-in network, SEG
// and SC rendering) is too slow under the race detector on a shared 2-core
// machine, as in e2e_test.go; build.sh test runs this file without -race.

package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
	"metsentry/firmware/control"
	"metsentry/firmware/dimse"
	"metsentry/firmware/outbox"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// uidSender records the SOP Instance UID of every file it is given.
type uidSender struct {
	mu   sync.Mutex
	uids [][]string // per Send
}

func (s *uidSender) Send(_ context.Context, _ config.Destination, files []string) ([]outbox.Result, error) {
	var res []outbox.Result
	var uids []string
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		m, err := dimse.ReadFileMeta(bufio.NewReader(f))
		f.Close()
		if err != nil {
			return nil, err
		}
		uids = append(uids, m.SOPInstanceUID)
		res = append(res, outbox.Result{Path: p})
	}
	slices.Sort(uids)
	s.mu.Lock()
	s.uids = append(s.uids, uids)
	s.mu.Unlock()
	return res, nil
}

// sendDir C-STOREs every file under dir to the box on one association.
func sendDir(t *testing.T, port int, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
	var classes []string
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := dimse.ReadFileMeta(bufio.NewReader(f))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(classes, m.SOPClassUID) {
			classes = append(classes, m.SOPClassUID)
		}
	}
	a, err := dimse.Dial(t.Context(), net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "STORESCU", "METSENTRY", dimse.StorageContexts(classes...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if err := a.StoreFile(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// scrape reads the status endpoint as Prometheus would.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the endpoint's text is not Prometheus text format: %v\n%s", err, body)
	}
	return mfs
}

// value is the value of a family's metric with the given label (name=value
// pairs), or -1 when absent: counters and gauges give their value,
// histograms their sample count.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsAfterAStudy: a phantom study goes through the box (stand-in
// network, a recording sender); the status endpoint, scraped over HTTP,
// counts it received, analysed and delivered, with one sample of each stage
// time, empty queues and the model and provider in use. A replay through
// the control socket is analysed and delivered again with the same result
// UIDs, counted, and left out of the stage times.
func TestMetricsAfterAStudy(t *testing.T) {
	g, err := phantom.NewGenerator(testenv.SharedData(t, "anatomy", "colin27"), phantom.Config{Dims: [3]int{96, 96, 64}, LesionFree: -1, GhostProb: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Generate(3, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	study := t.TempDir()
	if err := phantom.WriteDICOM(study, c); err != nil {
		t.Fatal(err)
	}
	events := make(chan JobEvent, 32)
	snd := &uidSender{}
	addrc := make(chan string, 1)
	b := startBox(t, "  - {name: pacs, ae_title: PACS, host: 127.0.0.1, port: 4242, send: [seg, sr, sc]}", func(s *Intake, ctl *Control) []Service {
		s.Analyzer, s.Sender = standIn(echoBright{}), snd
		s.Policy = outbox.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: 3}
		s.Events = func(e JobEvent) { events <- e }
		m := NewMetrics(s)
		ctl.Metrics = m
		return []Service{&MetricsService{Metrics: m, Addr: "127.0.0.1:0", Log: s.Log, Listening: func(a string) { addrc <- a }}}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var addr string
	select {
	case addr = <-addrc:
	case <-ctx.Done():
		t.Fatal("the status endpoint did not start")
	}
	delivered := func() {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.State == cache.JobDelivered {
					return
				}
				if cache.Terminal(e.State) {
					t.Fatalf("job %d ended %s: %s", e.Job, e.State, e.Reason)
				}
			case <-ctx.Done():
				t.Fatal("no job delivered")
			}
		}
	}
	sendDir(t, b.port, study)
	delivered()

	stages := []string{StageComplete, StageAnalysed, StageAcknowledged, StageFlag, StageTotal}
	check := func(n float64) {
		t.Helper()
		mfs := scrape(t, addr)
		for _, tc := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"metsentry_studies_received_total", nil, 1},
			{"metsentry_studies_analysed_total", nil, n},
			{"metsentry_studies_delivered_total", nil, n},
			{"metsentry_studies_failed_total", []string{"stage", "analysis"}, 0},
			{"metsentry_studies_failed_total", []string{"stage", "delivery"}, 0},
			{"metsentry_jobs_queued", nil, 0},
			{"metsentry_outbox_pending", nil, 0},
			{"metsentry_inference_info", []string{"provider", "cpu", "model", "echo 0"}, 1},
		} {
			if got := value(mfs, tc.name, tc.labels...); got != tc.want {
				t.Errorf("%s%v = %v; want %v", tc.name, tc.labels, got, tc.want)
			}
		}
		for _, st := range stages {
			if got := value(mfs, "metsentry_stage_seconds", "stage", st); got != 1 {
				t.Errorf("stage %s has %v samples; want 1 (replays are left out)", st, got)
			}
		}
		if free := value(mfs, "metsentry_disk_free_bytes"); free <= 0 {
			t.Errorf("disk free %v; want > 0", free)
		}
	}
	check(1)

	var r control.Replay
	if err := control.Call(ctx, b.socket, control.Request{Cmd: control.CmdReplay, Args: []string{phantom.StudyUID(c)}}, nil, &r); err != nil {
		t.Fatal(err)
	}
	delivered()
	check(2)
	snd.mu.Lock()
	defer snd.mu.Unlock()
	if len(snd.uids) != 2 || fmt.Sprint(snd.uids[0]) != fmt.Sprint(snd.uids[1]) {
		t.Errorf("sent %d times; the replay's result UIDs %v, want the first's %v", len(snd.uids), snd.uids[len(snd.uids)-1], snd.uids[0])
	}
	if r.FromJob == 0 || r.Job <= r.FromJob {
		t.Errorf("replay %+v; want a new job after the first", r)
	}

	// After a whole analysis, its logs and job reasons included, the
	// diagnostics bundle still holds none of the study's identity.
	ds, err := dicom.ParseFile(files(t, study)[0], nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, tg := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate} {
		e, err := ds.FindElementByTag(tg)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := e.Value.GetValue().([]string)
		if len(v) != 1 || len(v[0]) < 6 {
			t.Fatalf("the study's %v is %q: the scan below would prove nothing", tg, v)
		}
		vals = append(vals, v[0])
	}
	id := patient{name: vals[0], id: vals[1], birth: vals[2]}
	var d control.Diag
	if err := control.Call(ctx, b.socket, control.Request{Cmd: control.CmdDiag}, nil, &d); err != nil {
		t.Fatal(err)
	}
	bundle := untar(t, d.Data)
	if hits := identityHitsIn(bundle, []patient{id}, false); len(hits) > 0 {
		t.Errorf("patient identity in the diagnostics bundle: %v", hits)
	}
	if !bytes.Contains(bundle[strings.TrimSuffix(d.Name, ".tar.gz")+"/logs.txt"], []byte("study analysed")) {
		t.Error("the bundle's logs do not hold the analysis")
	}
}

// files lists a phantom study's DICOM files.
func files(t *testing.T, dir string) []string {
	t.Helper()
	fs, _ := filepath.Glob(filepath.Join(dir, "s*", "*.dcm"))
	if len(fs) == 0 {
		t.Fatalf("no DICOM files under %s", dir)
	}
	return fs
}
