package report

import (
	"bytes"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

var pngDir = flag.String("png", "", "write PNG copies of the secondary-capture images to this folder (to look at them)")

func TestSC(t *testing.T) {
	p := loadPhilips(t)
	for _, tc := range []struct {
		name    string
		centres [][3]int
		radii   []float64
		images  int
	}{
		// lesions 1 and 3 have their largest cross-section on different slices;
		{"three lesions", [][3]int{{128, 100, 80}, {60, 150, 120}, {200, 90, 40}}, []float64{6, 3, 1.2}, 4},
		{"two lesions on one slice", [][3]int{{100, 100, 90}, {160, 160, 90}}, []float64{4, 3}, 2},
		{"negative study", nil, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, p, tc.centres, tc.radii)
			ids := NewIDs(len(in.Lesions))
			imgs := SCImages(in)
			if len(imgs) != tc.images {
				t.Fatalf("%d images, want %d", len(imgs), tc.images)
			}
			if *pngDir != "" {
				for i, im := range imgs {
					var buf bytes.Buffer
					if err := png.Encode(&buf, im.Image); err != nil {
						t.Fatal(err)
					}
					name := strings.ReplaceAll(tc.name, " ", "-") + "-" + string(rune('0'+i)) + ".png"
					if err := os.WriteFile(filepath.Join(*pngDir, name), buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			files, err := SC(in, ids)
			if err != nil {
				t.Fatal(err)
			}
			for i, data := range files {
				path := writeTemp(t, "sc.dcm", data)
				dciodvfy(t, path)
				ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipProcessingPixelDataValue())
				if err != nil {
					t.Fatal(err)
				}
				if got := str(ds, tag.ImageType); got != `DERIVED\SECONDARY` {
					t.Errorf("image %d ImageType %q", i, got)
				}
				if got := str(ds, tag.BurnedInAnnotation); got != "YES" {
					t.Errorf("image %d BurnedInAnnotation %q", i, got)
				}
				if got := str(ds, tag.SeriesInstanceUID); got != ids.SCSeries {
					t.Errorf("image %d series %s, want %s", i, got, ids.SCSeries)
				}
			}
		})
	}
}

// TestRenderMarks checks the burned-in marks are where they belong: the
// outline colour of lesion 1 surrounds it, and the warning text is drawn.
func TestRenderMarks(t *testing.T) {
	p := loadPhilips(t)
	in := testInput(t, p, [][3]int{{128, 100, 80}}, []float64{5})
	imgs := SCImages(in)
	if len(imgs) != 2 || imgs[1].Slice != 80 {
		t.Fatalf("images %d, slice %d; want the summary and slice 80", len(imgs), imgs[1].Slice)
	}
	im := imgs[1].Image
	want := lesionColour(1)
	// Just outside the lesion's edge (radius 5 voxels) along the row, at 2× scale.
	if got := im.RGBAAt((128+6)*scaleFactor, 100*scaleFactor); got != want {
		t.Errorf("outline pixel %v, want %v", got, want)
	}
	if got := im.RGBAAt(128*scaleFactor, 100*scaleFactor); got == want {
		t.Errorf("lesion centre painted with the outline colour")
	}
	yellow := 0
	for y := 4; y < 30; y++ {
		for x := 4; x < 300; x++ {
			if c := im.RGBAAt(x, y); c.R == 255 && c.G == 255 && c.B == 0 {
				yellow++
			}
		}
	}
	if yellow < 200 {
		t.Errorf("only %d yellow pixels where %q should be", yellow, NotForDiagnosticUse)
	}
}
