package analyze_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/analyze"
	"metsentry/firmware/cache"
	"metsentry/firmware/report"
	"metsentry/firmware/testenv"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/tools/phantom/phantom"
)

var (
	small   = phantom.Config{Dims: [3]int{80, 80, 56}, LesionFree: -1, GhostProb: -1}
	genOnce sync.Once
	gen     *phantom.Generator
	genErr  error
)

func generator(t *testing.T) *phantom.Generator {
	t.Helper()
	dir := testenv.SharedData(t, "anatomy", "colin27")
	genOnce.Do(func() { gen, genErr = phantom.NewGenerator(dir, small) })
	if genErr != nil {
		t.Fatal(genErr)
	}
	return gen
}

// echoBright is a stand-in network: lesion probability 1 where the
// normalised bright channel is far above the head's mean (lesions and
// enhancing vessels), else 0. zeroNet finds nothing.
type echoBright struct{}

func (echoBright) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	bright := in[int(shape[1]-1)*n:]
	for i := range out {
		if bright[i] > 3 {
			out[i] = 1
		}
	}
	return out, nil
}
func (echoBright) Provider() string { return "cpu" }
func (echoBright) Close() error     { return nil }

type zeroNet struct{ echoBright }

func (zeroNet) Run(_ context.Context, _ []float32, shape [5]int64) ([]float32, error) {
	return make([]float32, shape[2]*shape[3]*shape[4]), nil
}

func testModel(e infer.Engine) *analyze.Model {
	return &analyze.Model{
		Manifest: &manifest.Manifest{
			Schema: 1, Name: "echo", Version: "0", Precision: "fp32", SHA256: strings.Repeat("ab", 32),
			Channels: []string{"black", "bright"}, BrightOnly: true, SpacingMM: [3]float64{1, 1, 1},
			Normalisation: manifest.Normalisation{Method: "zscore-mask"},
			Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
			Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, MinComponentMM3: 2},
		},
		Engine: e,
		Plan:   infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1},
	}
}

var testEquipment = report.Equipment{Manufacturer: "metsentry", ModelName: "test", SerialNumber: "0",
	SoftwareVersion: "test", DeviceUID: "2.25.1"}

// storeCase writes a phantom case's DICOM study into a fresh cache and
// returns the store with a ready job selecting its series (both, or the
// bright one alone).
func storeCase(t *testing.T, c *phantom.Case, brightOnly bool) (*cache.Store, cache.Job) {
	t.Helper()
	dir := t.TempDir()
	if err := phantom.WriteDICOM(dir, c); err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(t.TempDir(), cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	job := cache.Job{Rule: "visible"}
	for _, s := range phantom.SeriesOf() {
		if brightOnly && s.Channel == "black" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "s"+strconv.Itoa(s.Number), "*.dcm"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := store.CreateTemp()
			if err != nil {
				t.Fatal(err)
			}
			f.Write(data)
			if err := store.PutInstance(context.Background(), f, cache.Received{Size: int64(len(data)), SHA256: sha256.Sum256(data)}); err != nil {
				t.Fatal(err)
			}
		}
		role := s.Channel
		if brightOnly {
			role, job.Rule = "t1", "t1_fallback" // intake.RoleT1
		}
		job.Series = append(job.Series, cache.Selected{Role: role, SeriesNumber: s.Number, Count: len(files)})
	}
	store.View(func(tx *cache.Tx) error {
		return tx.Studies(func(st cache.Study) error {
			job.StudyInstanceUID, job.ID = st.StudyInstanceUID, st.JobID
			ss, _ := tx.StudySeries(st.StudyInstanceUID)
			for i := range job.Series {
				for _, s := range ss {
					if s.Attrs.SeriesNumber == job.Series[i].SeriesNumber {
						job.Series[i].SeriesInstanceUID = s.SeriesInstanceUID
					}
				}
			}
			return nil
		})
	})
	return store, job
}

// readSR returns the text values of an SR file's content tree, flattened.
func readSR(t *testing.T, path string) string {
	t.Helper()
	ds, err := dicom.ParseFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	var walk func(els []*dicom.Element)
	walk = func(els []*dicom.Element) {
		for _, e := range els {
			if e.Tag == tag.TextValue {
				texts = append(texts, strings.Join(e.Value.GetValue().([]string), ""))
			}
			if items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok {
				for _, it := range items {
					walk(it.GetValue().([]*dicom.Element))
				}
			}
		}
	}
	walk(ds.Elements)
	return strings.Join(texts, "\n")
}

// TestAnalyzeJob runs ready jobs through the whole chain with stand-in
// networks: a VISIBLE study with findings gets SEG, SR and SC, the SR naming
// the mode; bright-only says so; a study with no findings gets an SR saying
// it is negative and no SEG. Running a job twice gives the same UIDs.
func TestAnalyzeJob(t *testing.T) {
	c, err := generator(t).Generate(3, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		engine     infer.Engine
		brightOnly bool
		wantMode   analyze.Mode
		positive   bool
	}{
		{"VISIBLE with findings", echoBright{}, false, analyze.Visible, true},
		{"bright-only with findings", echoBright{}, true, analyze.BrightOnly, true},
		{"VISIBLE negative", zeroNet{}, false, analyze.Visible, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, job := storeCase(t, c, tc.brightOnly)
			a := &analyze.Analyzer{Model: testModel(tc.engine), Equipment: testEquipment,
				Now: func() time.Time { return time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) }}
			out := t.TempDir()
			res, err := a.Run(context.Background(), store, job, filepath.Join(out, "1"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tc.wantMode {
				t.Errorf("mode %q, want %q", res.Mode, tc.wantMode)
			}
			if got := len(res.Lesions) > 0; got != tc.positive {
				t.Fatalf("%d lesions; want positive %v", len(res.Lesions), tc.positive)
			}
			if (res.Files.SEG != "") != tc.positive || res.Files.SR == "" || len(res.Files.SC) == 0 {
				t.Errorf("files %+v; want a SEG only when positive, an SR and SC images", res.Files)
			}
			sr := readSR(t, res.Files.SR)
			if !strings.Contains(sr, tc.wantMode.Describe()) {
				t.Errorf("SR text does not name the mode %q:\n%s", tc.wantMode, sr)
			}
			if !tc.positive && !strings.Contains(sr, "Negative study") {
				t.Errorf("negative SR does not say so:\n%s", sr)
			}
			again, err := a.Run(context.Background(), store, job, filepath.Join(out, "2"))
			if err != nil {
				t.Fatal(err)
			}
			if again.IDs.SRInstance != res.IDs.SRInstance || again.IDs.SEGSeries != res.IDs.SEGSeries || len(again.Lesions) != len(res.Lesions) {
				t.Errorf("a second run gave SR %s, SEG series %s, %d lesions; the first %s, %s, %d: a resend must replace, not duplicate",
					again.IDs.SRInstance, again.IDs.SEGSeries, len(again.Lesions), res.IDs.SRInstance, res.IDs.SEGSeries, len(res.Lesions))
			}
			for i, p := range res.Files.SC {
				ds, err := dicom.ParseFile(p, nil, dicom.SkipPixelData())
				if err != nil {
					t.Fatal(err)
				}
				e, _ := ds.FindElementByTag(tag.SOPInstanceUID)
				if got := strings.Join(e.Value.GetValue().([]string), ""); got != res.IDs.SCInstances[i] {
					t.Errorf("SC image %d has UID %s, derived %s", i+1, got, res.IDs.SCInstances[i])
				}
			}
		})
	}
}

// The chain's map is what evaluate scores: Detect's lesions are detect.Find
// on SourceMap at the operating point, voxel for voxel.
func TestDetectAgreesWithSourceMap(t *testing.T) {
	c, err := generator(t).Generate(4, phantom.Val)
	if err != nil {
		t.Fatal(err)
	}
	store, job := storeCase(t, c, false)
	st, err := analyze.Load(store, job)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bright.Grid.Dims != c.Grid.Dims || !st.Bright.Grid.Near(c.Grid, 1e-3) {
		t.Fatalf("loaded grid %v, the phantom's %v", st.Bright.Grid, c.Grid)
	}
	m := testModel(echoBright{})
	f, err := m.Detect(context.Background(), st.Black, st.Bright)
	if err != nil {
		t.Fatal(err)
	}
	mp, p, err := m.SourceMap(context.Background(), st.Black, st.Bright)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, v := range mp {
		if float64(v) >= p.Threshold && f.Labels[i] == 0 {
			n++
		}
	}
	set := 0
	for _, l := range f.Labels {
		if l != 0 {
			set++
		}
	}
	if set == 0 {
		t.Fatal("no lesion voxels: the test checks nothing")
	}
	// Voxels above threshold outside any lesion belong to components under
	// the minimum volume; there are few.
	if n > set {
		t.Errorf("%d voxels at or above the threshold are in no lesion, %d are", n, set)
	}
}

func TestDerivedUID(t *testing.T) {
	a, b := analyze.DerivedUID("x", "y"), analyze.DerivedUID("xy")
	if a == b || a != analyze.DerivedUID("x", "y") || !strings.HasPrefix(a, "2.25.") || len(a) > 64 {
		t.Errorf("DerivedUID: %q, %q", a, b)
	}
}
