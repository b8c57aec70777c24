package volume

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

// synthetic builds a one-instance-per-slice series in memory with the given
// positions, for geometry paths no shared fixture exercises.
func synthetic(pos []geom.Vec3, edit func(k int, f *frameInfo)) []*instance {
	var out []*instance
	for k, p := range pos {
		in := &instance{seriesUID: "1.2.3", forUID: "1.2.3.4", bitsAlloc: 16, bo: binary.LittleEndian, stackDim: -1}
		in.frames = []frameInfo{{
			sopUID: "1.2.3.5." + string(rune('a'+k)), pos: p,
			row: geom.Vec3{1, 0, 0}, col: geom.Vec3{0, 1, 0},
			spacing: [2]float64{0.5, 0.5}, thickness: 1, slope: 1,
			rows: 2, cols: 2, pix: make([]byte, 8), inst: in,
		}}
		if edit != nil {
			edit(k, &in.frames[0])
		}
		out = append(out, in)
	}
	return out
}

func stack(n int, step geom.Vec3) []geom.Vec3 {
	var p []geom.Vec3
	for k := 0; k < n; k++ {
		p = append(p, geom.Vec3{-10, 20, 30}.Add(step.Scale(float64(k))))
	}
	return p
}

func TestGeometryChecks(t *testing.T) {
	z1 := geom.Vec3{0, 0, 1}
	for _, tc := range []struct {
		name   string
		pos    []geom.Vec3
		edit   func(int, *frameInfo)
		opts   Options
		reason Reason
	}{
		{"regular", stack(5, z1), nil, Options{}, ""},
		{"reverse order given", []geom.Vec3{{0, 0, 4}, {0, 0, 2}, {0, 0, 3}, {0, 0, 1}}, nil, Options{}, ""},
		{"overlapping slices are fine", stack(5, geom.Vec3{0, 0, 0.5}), nil, Options{}, ""},
		{"tilted 5 degrees", stack(5, geom.Vec3{0, 0.0875, 1}), nil, Options{}, ReasonGantryTilt},
		{"non-orthogonal", stack(5, z1), func(_ int, f *frameInfo) { f.col = geom.Vec3{0.1, 0.995, 0} }, Options{}, ReasonNonOrthogonal},
		{"jitter in plane", stack(5, z1), func(k int, f *frameInfo) {
			if k == 2 {
				f.pos[0] += 0.4
			}
		}, Options{}, ReasonIrregularSpacing},
		{"irregular step", []geom.Vec3{{0, 0, 0}, {0, 0, 1}, {0, 0, 2}, {0, 0, 3.5}, {0, 0, 4.5}}, nil, Options{}, ReasonIrregularSpacing},
		{"two missing", []geom.Vec3{{0, 0, 0}, {0, 0, 1}, {0, 0, 2}, {0, 0, 5}, {0, 0, 6}}, nil, Options{}, ReasonMissingSlices},
		{"mixed size", stack(4, z1), func(k int, f *frameInfo) {
			if k == 3 {
				f.rows = 3
			}
		}, Options{}, ReasonMixedSize},
		{"mixed pixel spacing", stack(4, z1), func(k int, f *frameInfo) {
			if k == 1 {
				f.spacing[0] = 0.6
			}
		}, Options{}, ReasonMixedSize},
		{"gaps", stack(4, geom.Vec3{0, 0, 2}), nil, Options{}, ReasonGaps},
		{"gaps allowed", stack(4, geom.Vec3{0, 0, 2}), nil, Options{AllowGaps: true}, ""},
		{"min slices option", stack(4, z1), nil, Options{MinSlices: 5}, ReasonTooFewSlices},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := assemble(synthetic(tc.pos, tc.edit), tc.opts.withDefaults())
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason %q (err %v), want %q", got, err, tc.reason)
			}
			if tc.reason != "" {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Slices come out sorted along the normal (+z here).
			for k := 1; k < len(v.Source.Slices); k++ {
				if v.Source.Slices[k].Position[2] <= v.Source.Slices[k-1].Position[2] {
					t.Fatalf("slices not sorted: %v", v.Source.Slices)
				}
			}
		})
	}
}

// TestDamagedFiles: truncated and corrupted copies of a real file are
// refused as unreadable (or parsed), never a panic.
func TestDamagedFiles(t *testing.T) {
	src, err := os.ReadFile(testenv.SharedData(t, "dicom", "dicom2nifti-fixtures", "siemens_anatomical_001", "IM-0001-0112-0001.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, cut := range []int{0, 10, 132, 200, 1000, len(src) / 2, len(src) - 1} {
		p := filepath.Join(dir, "cut.dcm")
		if err := os.WriteFile(p, src[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readInstance(p); err == nil {
			t.Fatalf("case %d: a file cut to %d bytes was read", i, cut)
		}
	}
}

func FuzzReadInstance(f *testing.F) {
	src, err := os.ReadFile(testenv.SharedData(f, "dicom", "dicom2nifti-fixtures", "hitachi_anatomical_001", "001.dcm"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(src)
	f.Add([]byte("DICM"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.dcm")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := readInstance(p)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error %v is not a refusal", err)
			}
			return
		}
		for i := range in.frames {
			dst := make([]float32, in.frames[i].rows*in.frames[i].cols)
			decodeFrame(dst, &in.frames[i])
		}
	})
}
