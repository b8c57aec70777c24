package report

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/testenv"
)

func TestSEGRoundTripAndValidates(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2})
	if len(in.Lesions) != 3 {
		t.Fatalf("%d lesions, want 3", len(in.Lesions))
	}
	ids := NewIDs(len(in.Lesions))
	data, err := SEG(in, ids)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "seg.dcm", data)
	dciodvfy(t, path)
	got := readSEGLabels(t, data, p.src)
	if !slices.Equal(got, in.Labels) {
		diff := 0
		for i := range got {
			if got[i] != in.Labels[i] {
				diff++
			}
		}
		t.Fatalf("SEG mask differs from the lesion mask in %d voxels", diff)
	}
}

// TestSEGBitOrderWithDCMTK decodes one SEG frame with dcmtk's dcm2pnm (an
// independent reader) and compares it with the mask: PS3.5 8.1.1 packs the
// first pixel into the least significant bit. (suyashkumar/dicom v1.1.0's
// own 1-bit reader unpacks the most significant bit first, so our tests
// unpack the raw bytes themselves.)
func TestSEGBitOrderWithDCMTK(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}}, []float64{6})
	data, err := SEG(in, NewIDs(1))
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "seg.dcm", data)
	out := filepath.Join(t.TempDir(), "f.pgm")
	prog := testenv.Program(t, "dcm2pnm")
	// Segment 1 comes first, so frame k+1 is slice k.
	if b, err := exec.Command(prog, "+F", "81", "--write-raw-pnm", path, out).CombinedOutput(); err != nil {
		t.Fatalf("dcm2pnm: %v\n%s", err, b)
	}
	pgm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(pgm, []byte("\n"), 4)
	if len(parts) != 4 || string(parts[1]) != "256 256" {
		t.Fatalf("unexpected PGM header %q", pgm[:min(len(pgm), 20)])
	}
	px := parts[3]
	fb := 256 * 256
	diff, ones := 0, 0
	for i := 0; i < fb; i++ {
		want := in.Labels[80*fb+i] == 1
		if want {
			ones++
		}
		if (px[i] > 0) != want {
			diff++
		}
	}
	if ones == 0 || diff != 0 {
		t.Fatalf("dcm2pnm frame differs from the mask in %d of %d pixels (%d lesion pixels)", diff, fb, ones)
	}
}

// TestSEGMultiFrameSource points the SEG's frames at frames of one enhanced
// multi-frame instance: each frame's source reference names its frame, and
// the instance is listed once.
func TestSEGMultiFrameSource(t *testing.T) {
	p := loadPhilips(t)
	base := testInput(t, p, [][3]int{{128, 100, 80}}, []float64{4})
	src := *base.Source
	src.Slices = slices.Clone(src.Slices)
	const enhancedMR, uid = "1.2.840.10008.5.1.4.1.1.4.1", "2.25.777"
	for k := range src.Slices {
		src.Slices[k].SOPClassUID, src.Slices[k].SOPInstanceUID, src.Slices[k].Frame = enhancedMR, uid, k+1
	}
	in := *base
	in.Source = &src
	data, err := SEG(&in, NewIDs(1))
	if err != nil {
		t.Fatal(err)
	}
	dciodvfy(t, writeTemp(t, "seg.dcm", data))
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
	if err != nil {
		t.Fatal(err)
	}
	pf, _ := ds.FindElementByTag(tag.PerFrameFunctionalGroupsSequence)
	for f, it := range pf.Value.GetValue().([]*dicom.SequenceItemValue) {
		sub := dicom.Dataset{Elements: it.GetValue().([]*dicom.Element)}
		e, err := sub.FindElementByTagNested(tag.ReferencedFrameNumber)
		if err != nil {
			t.Fatalf("frame %d: no ReferencedFrameNumber", f)
		}
		if got := e.Value.GetValue().([]string)[0]; got != fmt.Sprint(f+1) {
			t.Fatalf("frame %d refers to source frame %s", f+1, got)
		}
	}
	ri, _ := ds.FindElementByTagNested(tag.ReferencedInstanceSequence)
	if n := len(ri.Value.GetValue().([]*dicom.SequenceItemValue)); n != 1 {
		t.Fatalf("common instance reference lists %d instances, want 1", n)
	}
}
