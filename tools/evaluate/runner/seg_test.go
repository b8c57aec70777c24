package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
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

// TestReadSEGSparse reads SEGs that hold only the frames where a segment
// has pixels, as firmware/report writes them, and the same SEGs with their
// frames reversed: every voxel lands on the slice its frame's source
// reference names, whatever the frame's index. A frame without a source
// reference is refused.
func TestReadSEGSparse(t *testing.T) {
	tests := []struct {
		name       string
		rows, cols int
		blobs      [][4]int // i, j, k, half-width of a cube
	}{
		{"64x64", 64, 64, [][4]int{{10, 10, 0, 1}, {40, 30, 9, 3}, {50, 50, 19, 0}, {20, 50, 9, 2}}},
		// 13×11 = 143 bits: frames start inside bytes.
		{"13x11", 13, 11, [][4]int{{2, 2, 3, 1}, {8, 10, 12, 0}, {5, 5, 19, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 20
			src := &report.Source{
				StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.2", FrameOfReferenceUID: "2.25.3",
				Rows: tt.rows, Columns: tt.cols, Orientation: [6]float64{1, 0, 0, 0, 1, 0}, PixelSpacing: [2]float64{1, 1}, SliceThickness: 1,
			}
			sliceOf := map[string]int{}
			for k := range n {
				uid := fmt.Sprintf("2.25.10%d", k)
				src.Slices = append(src.Slices, report.Slice{SOPClassUID: "1.2.840.10008.5.1.4.1.1.4", SOPInstanceUID: uid, Position: geom.Vec3{0, 0, float64(k)}})
				sliceOf[uid] = k
			}
			dims := [3]int{tt.cols, tt.rows, n}
			labels := make([]uint16, tt.rows*tt.cols*n)
			var lesions []detect.Lesion
			for b, c := range tt.blobs {
				for k := c[2] - c[3]; k <= c[2]+c[3]; k++ {
					for j := c[1] - c[3]; j <= c[1]+c[3]; j++ {
						for i := c[0] - c[3]; i <= c[0]+c[3]; i++ {
							if i >= 0 && j >= 0 && k >= 0 && i < dims[0] && j < dims[1] && k < dims[2] {
								labels[(k*dims[1]+j)*dims[0]+i] = uint16(b + 1)
							}
						}
					}
				}
				lesions = append(lesions, detect.Lesion{Number: b + 1})
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
			ds, err := dicom.Parse(bytes.NewReader(seg), int64(len(seg)), nil, dicom.SkipProcessingPixelDataValue())
			if err != nil {
				t.Fatal(err)
			}
			frames := perFrame(t, ds)
			if len(frames) >= n {
				t.Fatalf("%d frames for %d lesions on %d slices: not a sparse SEG", len(frames), len(lesions), n)
			}
			dir := t.TempDir()
			read := func(name string, ds dicom.Dataset) ([]uint16, error) {
				t.Helper()
				p := filepath.Join(dir, name)
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := dicom.Write(f, ds); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				return ReadSEG(p, dims, sliceOf)
			}
			got, err := read("seg.dcm", ds)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, labels) {
				t.Fatal("sparse SEG read back differs from the mask")
			}

			// The same frames in reverse order, functional groups and pixels alike.
			fb := tt.rows * tt.cols
			pix := pixelBytes(t, ds)
			rev := make([]byte, len(pix))
			items := slices.Clone(frames)
			slices.Reverse(items)
			for f := range frames {
				from := (len(frames) - 1 - f) * fb
				for p := range fb {
					if b := from + p; pix[b>>3]&(1<<(b&7)) != 0 {
						o := f*fb + p
						rev[o>>3] |= 1 << (o & 7)
					}
				}
			}
			got, err = read("reversed.dcm", withFrames(t, ds, items, rev))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, labels) {
				t.Fatal("SEG with its frames reversed read back differs from the mask")
			}

			// A frame with no source reference cannot be placed.
			noRef := slices.Clone(frames)
			var kept []*dicom.Element
			for _, e := range frames[0].GetValue().([]*dicom.Element) {
				if e.Tag != tag.DerivationImageSequence {
					kept = append(kept, e)
				}
			}
			noRef[0] = sequenceItem(t, kept)
			if _, err := read("noref.dcm", withFrames(t, ds, noRef, pix)); !errors.Is(err, ErrSEG) {
				t.Fatalf("SEG with a frame lacking its source reference: err %v, want ErrSEG", err)
			}
		})
	}
}

// perFrame returns the items of a dataset's PerFrameFunctionalGroupsSequence.
func perFrame(t *testing.T, ds dicom.Dataset) []*dicom.SequenceItemValue {
	t.Helper()
	e, err := ds.FindElementByTag(tag.PerFrameFunctionalGroupsSequence)
	if err != nil {
		t.Fatal(err)
	}
	return e.Value.GetValue().([]*dicom.SequenceItemValue)
}

// pixelBytes returns a dataset's raw pixel data.
func pixelBytes(t *testing.T, ds dicom.Dataset) []byte {
	t.Helper()
	e, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	return dicom.MustGetPixelDataInfo(e.Value).UnprocessedValueData
}

// sequenceItem makes one sequence item holding els.
func sequenceItem(t *testing.T, els []*dicom.Element) *dicom.SequenceItemValue {
	t.Helper()
	e, err := dicom.NewElement(tag.PerFrameFunctionalGroupsSequence, [][]*dicom.Element{els})
	if err != nil {
		t.Fatal(err)
	}
	return e.Value.GetValue().([]*dicom.SequenceItemValue)[0]
}

// withFrames returns ds with its per-frame functional groups and pixel
// data replaced.
func withFrames(t *testing.T, ds dicom.Dataset, items []*dicom.SequenceItemValue, pix []byte) dicom.Dataset {
	t.Helper()
	var groups [][]*dicom.Element
	for _, it := range items {
		groups = append(groups, it.GetValue().([]*dicom.Element))
	}
	pf, err := dicom.NewElement(tag.PerFrameFunctionalGroupsSequence, groups)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := dicom.NewValue(dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: pix})
	if err != nil {
		t.Fatal(err)
	}
	out := dicom.Dataset{}
	for _, e := range ds.Elements {
		switch e.Tag {
		case tag.PerFrameFunctionalGroupsSequence:
			e = pf
		case tag.PixelData:
			e = &dicom.Element{Tag: tag.PixelData, ValueRepresentation: tag.VRPixelData, RawValueRepresentation: "OB", Value: pv}
		}
		out.Elements = append(out.Elements, e)
	}
	return out
}
