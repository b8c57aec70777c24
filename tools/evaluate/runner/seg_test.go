package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"

	"metsentry/firmware/detect"
	"metsentry/firmware/report"
	"metsentry/tools/evaluate/score"
	"metsentry/tools/phantom/phantom"
)

// TestReadSEGRoundTrip makes the daemon's SEG (firmware/report) from a
// phantom case's truth and checks that ReadSEG puts every voxel back.
func TestReadSEGRoundTrip(t *testing.T) {
	c, err := generator(t).Generate(4, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	cases, preds := t.TempDir(), t.TempDir()
	dir := filepath.Join(cases, c.ID)
	if err := phantom.WriteCase(dir, c, "dicom"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "dicom", "s702", "*.dcm"))
	var dss []dicom.Dataset
	for _, f := range files {
		ds, err := dicom.ParseFile(f, nil, dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		dss = append(dss, ds)
	}
	src, err := report.SourceFromDatasets(dss)
	if err != nil {
		t.Fatal(err)
	}
	prob := make([]float32, len(c.Labels))
	for i, v := range c.Labels {
		if v != 0 {
			prob[i] = 1
		}
	}
	lesions, err := detect.Find(prob, c.Grid, detect.Params{Threshold: 0.5}, detect.Reference{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lesions) == 0 {
		t.Fatal("case has no lesions")
	}
	labels, err := detect.Labels(lesions, c.Grid)
	if err != nil {
		t.Fatal(err)
	}
	in := &report.Input{
		Source: src, Lesions: lesions, Labels: labels,
		Equipment: report.Equipment{Manufacturer: "metsentry", ModelName: "test", SerialNumber: "1", SoftwareVersion: "0", DeviceUID: "2.25.1"},
		Algorithm: report.Algorithm{Name: "truth", Version: "0"}, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), SeriesNumber: 900,
	}
	seg, err := report.SEG(in, report.NewIDs(len(lesions)))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(preds, c.ID), 0o755)
	segPath := filepath.Join(preds, c.ID, "seg.dcm")
	if err := os.WriteFile(segPath, seg, 0o600); err != nil {
		t.Fatal(err)
	}
	sliceOf := map[string]int{}
	for k := 0; k < c.Grid.Dims[2]; k++ {
		sliceOf[phantom.SOPInstanceUID(c, "bright", k)] = k
	}
	got, err := ReadSEG(segPath, c.Grid.Dims, sliceOf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if (got[i] != 0) != (c.Labels[i] != 0) {
			t.Fatalf("voxel %d: SEG says %d, truth %d", i, got[i], c.Labels[i])
		}
	}
	pred := make([]bool, len(got))
	for i, v := range got {
		pred[i] = v != 0
	}
	r, err := score.Case(InputOf(c, pred, 0))
	if err != nil {
		t.Fatal(err)
	}
	if r.Hits != len(c.Lesions) || r.FP != 0 {
		t.Errorf("scored SEG: %d/%d hits, %d FP", r.Hits, len(c.Lesions), r.FP)
	}
	// the same through the files mode, which finds the slices itself
	rep, err := ScoreFiles(cases, preds, 0.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Hits != len(c.Lesions) || rep.Summary.FP != 0 || rep.Summary.LesionDice != 1 {
		t.Errorf("files mode on the SEG: %+v", rep.Summary)
	}
	// a SEG that points at another series is refused
	for k := 0; k < c.Grid.Dims[2]; k++ {
		delete(sliceOf, phantom.SOPInstanceUID(c, "bright", k))
	}
	if _, err := ReadSEG(segPath, c.Grid.Dims, sliceOf); err == nil {
		t.Error("SEG with unknown source images accepted")
	}
	if _, err := ReadSEG(files[0], c.Grid.Dims, sliceOf); err == nil {
		t.Error("an MR image accepted as a SEG")
	}
}
