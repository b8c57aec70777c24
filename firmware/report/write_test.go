package report

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/testenv"
)

// TestWriteAndEntityConsistency writes all results for three lesions and
// checks with dcentvfy that source + SEG + SR + SC agree on patient and study.
func TestWriteAndEntityConsistency(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2})
	files, err := Write(t.TempDir(), in, NewIDs(len(in.Lesions)))
	if err != nil {
		t.Fatal(err)
	}
	if files.SEG == "" || files.SR == "" || len(files.SC) != 4 {
		t.Fatalf("files %+v", files)
	}
	prog := testenv.Program(t, "dcentvfy")
	args := append(append([]string{}, p.files...), files.All()...)
	out, err := exec.Command(prog, args...).CombinedOutput()
	if err != nil {
		t.Errorf("dcentvfy: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") || strings.Contains(strings.ToLower(line), "inconsistent") {
			t.Errorf("dcentvfy: %s", line)
		}
	}
	t.Logf("dcentvfy over %d files: %d warning lines", len(args), strings.Count(string(out), "Warning"))
}

func TestWriteNegativeHasNoSEG(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, nil, nil)
	files, err := Write(t.TempDir(), in, NewIDs(0))
	if err != nil {
		t.Fatal(err)
	}
	if files.SEG != "" || files.SR == "" || len(files.SC) != 1 {
		t.Fatalf("negative study files %+v (want SR and one summary image, no SEG)", files)
	}
	if _, err := SEG(in, NewIDs(0)); err == nil {
		t.Fatal("SEG with no lesions did not fail")
	}
}

// TestHeaderCopiedExactly checks every patient and study element of the
// source appears unchanged in each result.
func TestHeaderCopiedExactly(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}}, []float64{4})
	files, err := Write(t.TempDir(), in, NewIDs(1))
	if err != nil {
		t.Fatal(err)
	}
	src, err := dicom.ParseFile(p.files[0], nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	want := HeaderElements(src)
	if len(want) < 8 {
		t.Fatalf("only %d header elements taken from the source", len(want))
	}
	for _, f := range files.All() {
		ds, err := dicom.ParseFile(f, nil, dicom.SkipPixelData())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			g, err := ds.FindElementByTag(w.Tag)
			if err != nil {
				t.Errorf("%s lacks %s", filepath.Base(f), tag.DebugString(w.Tag))
				continue
			}
			if d := cmp.Diff(w.Value.String(), g.Value.String()); d != "" || w.RawValueRepresentation != g.RawValueRepresentation {
				t.Errorf("%s: %s differs from the source (VR %s/%s)", filepath.Base(f), tag.DebugString(w.Tag), w.RawValueRepresentation, g.RawValueRepresentation)
			}
		}
	}
}
