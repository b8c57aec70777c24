package runner

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"

	"metsentry/firmware/detect"
	"metsentry/firmware/dimse"
	"metsentry/firmware/report"
	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// fakeDaemon is a stand-in for metsentryd: an SCP that, once it holds both
// series of the study, "finds" exactly the truth and sends a SEG and an SR
// back over DIMSE, as the daemon's outbox does.
type fakeDaemon struct {
	dimse.DirStorage
	c       *phantom.Case
	results string // host:port of the results receiver
	mu      sync.Mutex
	n       int
	done    chan error
}

func (d *fakeDaemon) Store(ctx context.Context, f *os.File, in dimse.Instance) error {
	if err := d.DirStorage.Store(ctx, f, in); err != nil {
		return err
	}
	d.mu.Lock()
	d.n++
	n := d.n
	d.mu.Unlock()
	if n == 2*d.c.Grid.Dims[2] {
		go func() { d.done <- d.answer() }()
	}
	return nil
}

func (d *fakeDaemon) answer() error {
	var dss []dicom.Dataset
	for k := 0; k < d.c.Grid.Dims[2]; k++ {
		ds, err := dicom.ParseFile(d.Path(phantom.SOPInstanceUID(d.c, "bright", k)), nil, dicom.SkipPixelData())
		if err != nil {
			return err
		}
		dss = append(dss, ds)
	}
	src, err := report.SourceFromDatasets(dss)
	if err != nil {
		return err
	}
	prob := make([]float32, len(d.c.Labels))
	for i, v := range d.c.Labels {
		if v != 0 {
			prob[i] = 1
		}
	}
	lesions, err := detect.Find(prob, d.c.Grid, detect.Params{Threshold: 0.5}, detect.Reference{})
	if err != nil {
		return err
	}
	labels, err := detect.Labels(lesions, d.c.Grid)
	if err != nil {
		return err
	}
	in := &report.Input{Source: src, Lesions: lesions, Labels: labels,
		Equipment: report.Equipment{Manufacturer: "metsentry", ModelName: "fake", SerialNumber: "1", SoftwareVersion: "0", DeviceUID: "2.25.1"},
		Algorithm: report.Algorithm{Name: "truth", Version: "0"}, Time: time.Now(), SeriesNumber: 900}
	ids := report.NewIDs(len(lesions))
	seg, err := report.SEG(in, ids)
	if err != nil {
		return err
	}
	sr, err := report.SR(in, ids)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var a *dimse.Assoc
	for try := 0; ; try++ { // the receiver may still be starting
		a, err = dimse.Dial(ctx, d.results, "METSENTRY", "EVALRESULTS",
			dimse.Context{AbstractSyntax: dimse.SegmentationStorage, TransferSyntaxes: []string{dimse.ExplicitVRLittleEndian}},
			dimse.Context{AbstractSyntax: dimse.Comprehensive3DSRStorage, TransferSyntaxes: []string{dimse.ExplicitVRLittleEndian}})
		if err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	if err := a.StoreBytes(ctx, seg); err != nil {
		return err
	}
	if err := a.StoreBytes(ctx, sr); err != nil {
		return err
	}
	return a.Release(ctx)
}

func TestRunE2EWithStandInDaemon(t *testing.T) {
	testenv.Program(t, "storescp")
	g := generator(t)
	c, err := g.Generate(4, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	resultsPort := testenv.FreePort(t)
	d := &fakeDaemon{DirStorage: dimse.DirStorage{Dir: t.TempDir()}, c: c,
		results: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(resultsPort)).String(), done: make(chan error, 1)}
	srv := &dimse.Server{Policy: dimse.Policy{AETitle: "METSENTRY", AllowedPeers: []dimse.Peer{{AETitle: "EVALUATE", Prefix: netip.MustParsePrefix("127.0.0.1/32")}}}, Storage: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go srv.Serve(ctx, ln)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	})
	rep, err := RunE2E(ctx, E2EOptions{
		Generator: g, Split: phantom.Val, Seeds: []uint64{4},
		Daemon: ln.Addr().String(), ResultsDir: filepath.Join(t.TempDir(), "results"), ResultsPort: resultsPort,
		Timeout: 30 * time.Second, ScratchDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-d.done; err != nil {
		t.Fatalf("stand-in daemon: %v", err)
	}
	s := rep.Summary
	if s.Lesions == 0 || s.Hits != s.Lesions || s.FP != 0 || rep.Cases[0].Seconds <= 0 {
		t.Errorf("e2e with a daemon that returns the truth: %+v", s)
	}
}
