package report

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	logWarnings(t, dciodvfy(t, writeTemp(t, "seg.dcm", data)))
	checkSparse(t, readSEG(t, data, p.src), in)
}

// TestSEGShapes writes SEGs for lesions at the edges of the grid and in
// awkward arrangements, validates each with dciodvfy and reads it back onto
// the source grid voxel for voxel.
func TestSEGShapes(t *testing.T) {
	const n = 24 // slices of the 64×64 test grid
	tests := []struct {
		name       string
		rows, cols int
		blobs      []blob
		frames     int
	}{
		{"single voxel", 64, 64, []blob{{[3]int{10, 20, 12}, 0}}, 1},
		{"touches first slice", 64, 64, []blob{{[3]int{30, 30, 0}, 3}}, 4},
		{"touches last slice", 64, 64, []blob{{[3]int{30, 30, n - 1}, 3}}, 4},
		{"first and last slice", 64, 64, []blob{{[3]int{10, 10, 0}, 1}, {[3]int{50, 50, n - 1}, 1}}, 4},
		{"spans every slice", 64, 64, []blob{{[3]int{32, 32, n / 2}, n}}, n},
		{"two lesions on one slice", 64, 64, []blob{{[3]int{12, 12, 8}, 2}, {[3]int{50, 40, 8}, 0}}, 6},
		{"touching lesions", 64, 64, []blob{{[3]int{20, 20, 10}, 3}, {[3]int{25, 20, 10}, 3}}, 14},
		{"lesion in the grid corner", 64, 64, []blob{{[3]int{63, 63, n - 1}, 2}, {[3]int{0, 0, 0}, 2}}, 6},
		// 13×11 = 143 bits a frame: frames do not start on byte boundaries.
		{"odd frame size", 13, 11, []blob{{[3]int{0, 0, 0}, 1}, {[3]int{5, 6, 12}, 2}, {[3]int{10, 12, n - 1}, 0}}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := blobInput(t, synthSource(n, tt.rows, tt.cols), tt.blobs)
			data, err := SEG(in, NewIDs(len(in.Lesions)))
			if err != nil {
				t.Fatal(err)
			}
			dciodvfy(t, writeTemp(t, "seg.dcm", data))
			v := readSEG(t, data, in.Source)
			checkSparse(t, v, in)
			if len(v.frames) != tt.frames {
				t.Errorf("%d frames, want %d", len(v.frames), tt.frames)
			}
		})
	}
}

// TestSEGManyLesionsStaysSmall is the study with many findings: 20
// lesions of realistic sizes on a 176-slice 256×256 source make a SEG of a
// few hundred frames and under 3 MB (with every slice of every segment it
// was 3,520 frames and 30 MB), which still validates and reads back.
func TestSEGManyLesionsStaysSmall(t *testing.T) {
	in := blobInput(t, synthSource(176, 256, 256), twentyLesions())
	data, err := SEG(in, NewIDs(len(in.Lesions)))
	if err != nil {
		t.Fatal(err)
	}
	v := readSEG(t, data, in.Source)
	checkSparse(t, v, in)
	if len(data) >= 3<<20 || len(v.frames) >= 400 {
		t.Errorf("20-lesion SEG: %d bytes, %d frames (want under 3 MiB and 400 frames)", len(data), len(v.frames))
	}
	t.Logf("20-lesion SEG: %d frames, %.2f MB", len(v.frames), float64(len(data))/1e6)
	logWarnings(t, dciodvfy(t, writeTemp(t, "seg.dcm", data)))
}

// logWarnings logs dciodvfy's warnings (which do not fail a test), so a
// run with -v shows what is left to tidy.
func logWarnings(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Warning") {
			t.Log("dciodvfy: " + line)
		}
	}
}

// TestSEGNoPixelsLeft covers lesions that all vanished on the way back to
// the source grid: the SEG keeps its segments (the SR points at them) and
// the one empty frame a Segmentation needs.
func TestSEGNoPixelsLeft(t *testing.T) {
	in := blobInput(t, synthSource(8, 16, 16), []blob{{[3]int{4, 4, 4}, 1}})
	lost := *in
	lost.Labels = make([]uint16, len(in.Labels))
	data, err := SEG(&lost, NewIDs(1))
	if err != nil {
		t.Fatal(err)
	}
	dciodvfy(t, writeTemp(t, "seg.dcm", data))
	v := readSEG(t, data, in.Source)
	if len(v.frames) != 1 || v.frames[0].ones != 0 || v.frames[0].segment != 1 || v.frames[0].slice != 0 {
		t.Fatalf("frames %+v, want one empty frame of segment 1 on slice 0", v.frames)
	}
}

// TestSEGBitOrderWithDCMTK decodes every SEG frame with dcmtk's dcm2pnm
// (an independent reader) and compares it with the mask, each frame placed
// by our own reading of its functional groups: PS3.5 8.1.1 packs the first
// pixel into the least significant bit, and with one bit allocated frames
// follow each other with no padding, also where a frame ends inside a byte.
// (suyashkumar/dicom v1.1.0's own 1-bit reader unpacks the most significant
// bit first, so our tests unpack the raw bytes themselves.)
func TestSEGBitOrderWithDCMTK(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) *Input
	}{
		{"philips 256x256", func(t *testing.T) *Input {
			return testInput(t, loadPhilips(t), [][3]int{{128, 100, 80}, {60, 150, 120}}, []float64{3, 2})
		}},
		{"13x11 frames", func(t *testing.T) *Input {
			return blobInput(t, synthSource(12, 13, 11), []blob{{[3]int{3, 4, 2}, 2}, {[3]int{8, 9, 6}, 1}, {[3]int{10, 12, 11}, 0}})
		}},
	}
	prog := testenv.Program(t, "dcm2pnm")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in(t)
			data, err := SEG(in, NewIDs(len(in.Lesions)))
			if err != nil {
				t.Fatal(err)
			}
			v := readSEG(t, data, in.Source)
			path := writeTemp(t, "seg.dcm", data)
			dir := t.TempDir()
			if b, err := exec.Command(prog, "--all-frames", "--write-raw-pnm", path, filepath.Join(dir, "f")).CombinedOutput(); err != nil {
				t.Fatalf("dcm2pnm: %v\n%s", err, b)
			}
			rows, cols := in.Source.Rows, in.Source.Columns
			fb := rows * cols
			for f, fr := range v.frames {
				pgm, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f.%d.pgm", f)))
				if err != nil {
					t.Fatal(err)
				}
				parts := bytes.SplitN(pgm, []byte("\n"), 4)
				if len(parts) != 4 || string(parts[1]) != fmt.Sprintf("%d %d", cols, rows) || len(parts[3]) != fb {
					t.Fatalf("frame %d: unexpected PGM header %q", f+1, pgm[:min(len(pgm), 20)])
				}
				diff, ones := 0, 0
				for i, p := range parts[3] {
					want := in.Labels[fr.slice*fb+i] == uint16(fr.segment)
					if want {
						ones++
					}
					if (p > 0) != want {
						diff++
					}
				}
				if ones == 0 || diff != 0 {
					t.Fatalf("frame %d (segment %d, slice %d): dcm2pnm differs from the mask in %d of %d pixels (%d lesion pixels)", f+1, fr.segment, fr.slice, diff, fb, ones)
				}
			}
		})
	}
}

// TestSEGMultiFrameSource points the SEG's frames at frames of one enhanced
// multi-frame instance: each frame's source reference names its frame
// (readSEG checks it against the slice the frame lies on), and the instance
// is listed once.
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
	v := readSEG(t, data, &src)
	checkSparse(t, v, &in)
	for _, fr := range v.frames {
		if fr.refFrame != fr.slice+1 {
			t.Fatalf("frame on slice %d refers to source frame %d", fr.slice, fr.refFrame)
		}
	}
	if len(v.listed) != 1 {
		t.Fatalf("common instance reference lists %d instances, want 1", len(v.listed))
	}
}

// TestSEGPixelmed validates the 20-lesion SEG with pixelmed's
// DicomInstanceValidator, a second validator beside dciodvfy. One line is
// expected and allowed: pixelmed asks for General Series Laterality
// whenever Image and Frame Laterality are absent, because it cannot tell
// whether the body part is paired; the standard requires it only for a
// paired body part (PS3.3 C.7.3.1), and the brain is not one.
func TestSEGPixelmed(t *testing.T) {
	if testing.Short() {
		t.Skip("pixelmed's validator takes about 15 s of CPU")
	}
	java := testenv.Program(t, "java")
	jar := "/usr/share/java/pixelmed.jar"
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("pixelmed validator %s is missing (install pixelmed-apps): %v", jar, err)
	}
	in := blobInput(t, synthSource(176, 256, 256), twentyLesions())
	data, err := SEG(in, NewIDs(len(in.Lesions)))
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "seg.dcm", data)
	out, err := exec.Command(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djdk.xml.xpathExprGrpLimit=0", "-Djdk.xml.xpathExprOpLimit=0", "-Djdk.xml.xpathTotalOpLimit=0",
		"-cp", jar, "com.pixelmed.validate.DicomInstanceValidator", path).CombinedOutput()
	if err != nil {
		t.Fatalf("pixelmed validator: %v\n%s", err, out)
	}
	const laterality = "Error: GeneralSeriesModule/Laterality/: : Missing conditional attribute"
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Error") && line != laterality {
			t.Errorf("pixelmed: %s", line)
		}
		if strings.HasPrefix(line, "Warning") {
			t.Log("pixelmed: " + line)
		}
	}
	if !strings.Contains(string(out), "Found Segmentation IOD") || !strings.Contains(string(out), "IOD validation complete") {
		t.Errorf("pixelmed did not validate a Segmentation:\n%s", out)
	}
}
