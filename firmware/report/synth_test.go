package report

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
)

// synthSource is a single-frame axial MR series of n slices of rows×cols
// (1 mm pixels, 1 mm slices) with made-up UIDs: enough for a SEG, no files.
func synthSource(n, rows, cols int) *Source {
	const mr = "1.2.840.10008.5.1.4.1.1.4"
	s := &Source{
		StudyInstanceUID: "2.25.100", SeriesInstanceUID: "2.25.101", FrameOfReferenceUID: "2.25.102",
		Rows: rows, Columns: cols, Orientation: [6]float64{1, 0, 0, 0, 1, 0},
		PixelSpacing: [2]float64{1, 1}, SliceThickness: 1,
	}
	b := &builder{}
	s.Header = []*dicom.Element{b.s(tag.PatientName, "Synthetic^Phantom"), b.s(tag.PatientID, "SYNTH-0001"),
		b.s(tag.StudyDate, "20261126"), b.s(tag.StudyTime, "170000"), b.s(tag.StudyID, "1")}
	for k := range n {
		s.Slices = append(s.Slices, Slice{SOPClassUID: mr, SOPInstanceUID: fmt.Sprintf("2.25.200%d", k),
			Position: geom.Vec3{-float64(cols) / 2, -float64(rows) / 2, float64(k) - float64(n)/2}})
	}
	return s
}

// blob is a test lesion: a ball of radius r voxels around centre (i, j, k);
// r 0 is a single voxel.
type blob struct {
	centre [3]int
	r      float64
}

// blobInput paints blobs (lesion n+1 is blobs[n]) into a label mask on src
// and returns the report input; a later blob does not overwrite an earlier
// one.
func blobInput(t testing.TB, src *Source, blobs []blob) *Input {
	t.Helper()
	g := src.Grid()
	lab := make([]uint16, g.Len())
	var ls []detect.Lesion
	for n, b := range blobs {
		l := detect.Lesion{Number: n + 1, Location: detect.Location{Hemisphere: "Left", Region: "frontal lobe"}}
		ri := int(math.Ceil(b.r))
		c := b.centre
		for k := c[2] - ri; k <= c[2]+ri; k++ {
			for j := c[1] - ri; j <= c[1]+ri; j++ {
				for i := c[0] - ri; i <= c[0]+ri; i++ {
					d := math.Sqrt(float64((i-c[0])*(i-c[0]) + (j-c[1])*(j-c[1]) + (k-c[2])*(k-c[2])))
					if g.Contains(i, j, k) && d <= b.r && lab[g.Index(i, j, k)] == 0 {
						lab[g.Index(i, j, k)] = uint16(n + 1)
						l.Voxels = append(l.Voxels, g.Index(i, j, k))
					}
				}
			}
		}
		if len(l.Voxels) == 0 {
			t.Fatalf("blob %d lies outside the grid", n)
		}
		l.VolumeMM3 = float64(len(l.Voxels))
		l.LongestDiameterMM = 2*b.r + 1
		ls = append(ls, l)
	}
	return &Input{
		Source: src, Lesions: ls, Labels: lab,
		Equipment: Equipment{Manufacturer: "metsentry project", ModelName: "metsentry x86-devkit", SerialNumber: "TEST-0001",
			SoftwareVersion: "0.1.0-test", DeviceUID: "2.25.1234567890123456789"},
		Algorithm:    Algorithm{Name: "metsentry-unet", Version: "1.0.0"},
		Time:         time.Date(2026, 11, 26, 17, 30, 0, 0, time.UTC),
		SeriesNumber: 9001,
	}
}

// twentyLesions is a study with many findings on a 176-slice 256×256 grid:
// 20 lesions from 1 to 25 mm across (most brain metastases are small; a
// few are large), spread through the head without touching.
func twentyLesions() []blob {
	radii := []float64{12, 9, 7, 6, 5, 4.5, 4, 3.5, 3, 3, 2.5, 2.5, 2, 2, 1.5, 1.5, 1.5, 1, 1, 0}
	var out []blob
	for n, r := range radii {
		// 5 columns × 4 rows of cells 36 voxels wide, at staggered depths.
		i := 56 + 36*(n%5)
		j := 74 + 36*(n/5)
		k := 40 + 23*(n%5) + 11*(n/5)
		out = append(out, blob{[3]int{i, j, k}, r})
	}
	return out
}

// BenchmarkSEG20Lesions builds the SEG of a 20-lesion study on a 176-slice
// 256×256 source and reports its size and frame count:
//
//	go test ./firmware/report -run '^$' -bench SEG20Lesions -benchmem
func BenchmarkSEG20Lesions(b *testing.B) {
	in := blobInput(b, synthSource(176, 256, 256), twentyLesions())
	ids := NewIDs(len(in.Lesions))
	var size int
	for b.Loop() {
		data, err := SEG(in, ids)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(len(segFrames(in.Labels, len(in.Lesions), len(in.Source.Slices), 256*256))), "frames")
}
