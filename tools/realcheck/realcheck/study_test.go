package realcheck

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"metsentry/firmware/geom"
)

// header is the part of a NIfTI-1 header these tests set.
type header struct {
	dims                [3]int
	pixdim              [3]float32
	qfac                float32
	qformCode, sformCod int16
	quatern             [3]float32 // b, c, d
	qoffset             [3]float32
	srow                [3][4]float32
	description         string
}

// niftiFile writes a NIfTI-1 single file by hand (int16 voxels 0, 1, 2, …),
// so the test does not go through the writer whose reader it checks.
func niftiFile(t *testing.T, path string, h header) {
	t.Helper()
	var b [352]byte
	le := binary.LittleEndian
	le.PutUint32(b[0:], 348)
	le.PutUint16(b[40:], 3)
	for i, d := range h.dims {
		le.PutUint16(b[42+2*i:], uint16(d))
	}
	le.PutUint16(b[70:], 4)  // int16
	le.PutUint16(b[72:], 16) // bitpix
	f := func(off int, v float32) { le.PutUint32(b[off:], math.Float32bits(v)) }
	f(76, h.qfac)
	for i, p := range h.pixdim {
		f(80+4*i, p)
	}
	f(108, 352)
	copy(b[148:228], h.description)
	le.PutUint16(b[252:], uint16(h.qformCode))
	le.PutUint16(b[254:], uint16(h.sformCod))
	for i := range 3 {
		f(256+4*i, h.quatern[i])
		f(268+4*i, h.qoffset[i])
		for c := range 4 {
			f(280+16*i+4*c, h.srow[i][c])
		}
	}
	copy(b[344:], "n+1\x00")
	var buf bytes.Buffer
	buf.Write(b[:])
	n := h.dims[0] * h.dims[1] * h.dims[2]
	for i := range n {
		binary.Write(&buf, le, int16(i))
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadVolumeRASToLPS checks that a file's RAS geometry arrives as patient
// LPS: x and y negated, z kept, from the sform or (without one) the qform.
func TestLoadVolumeRASToLPS(t *testing.T) {
	tests := []struct {
		name string
		h    header
		want geom.Affine
		// a voxel and where it must lie in LPS mm
		voxel, lps geom.Vec3
	}{
		{
			// BraTS / SRI24: RAS sform diag(-1, -1, 1), y offset 239: the
			// grid runs right→left and anterior→posterior, i.e. along LPS.
			name:  "BraTS sform",
			h:     header{dims: [3]int{4, 3, 2}, pixdim: [3]float32{1, 1, 1}, qfac: 1, sformCod: 1, srow: [3][4]float32{{-1, 0, 0, 0}, {0, -1, 0, 239}, {0, 0, 1, 0}}},
			want:  geom.Affine{{1, 0, 0, 0}, {0, 1, 0, -239}, {0, 0, 1, 0}},
			voxel: geom.Vec3{3, 2, 1}, lps: geom.Vec3{3, -237, 1},
		},
		{
			// A RAS-oriented (neurological) sform, 2 mm in z: voxel i grows to
			// the patient's right, so LPS x falls.
			name:  "RAS sform",
			h:     header{dims: [3]int{4, 3, 2}, pixdim: [3]float32{1, 1, 2}, qfac: 1, sformCod: 2, srow: [3][4]float32{{1, 0, 0, -90}, {0, 1, 0, -126}, {0, 0, 2, -72}}},
			want:  geom.Affine{{-1, 0, 0, 90}, {0, -1, 0, 126}, {0, 0, 2, -72}},
			voxel: geom.Vec3{1, 1, 1}, lps: geom.Vec3{89, 125, -70},
		},
		{
			// qform only: a 180° turn about z (quaternion b=c=0, d=1) is
			// RAS diag(-1, -1, 1), which is LPS identity; offsets negate too.
			name:  "qform only",
			h:     header{dims: [3]int{4, 3, 2}, pixdim: [3]float32{0.5, 0.5, 1.5}, qfac: 1, qformCode: 1, quatern: [3]float32{0, 0, 1}, qoffset: [3]float32{10, -20, 30}},
			want:  geom.Affine{{0.5, 0, 0, -10}, {0, 0.5, 0, 20}, {0, 0, 1.5, 30}},
			voxel: geom.Vec3{2, 2, 1}, lps: geom.Vec3{-9, 21, 31.5},
		},
		{
			// qfac −1 flips k: z falls with the slice index.
			name:  "qform qfac -1",
			h:     header{dims: [3]int{4, 3, 2}, pixdim: [3]float32{1, 1, 3}, qfac: -1, qformCode: 1},
			want:  geom.Affine{{-1, 0, 0, 0}, {0, -1, 0, 0}, {0, 0, -3, 0}},
			voxel: geom.Vec3{1, 2, 1}, lps: geom.Vec3{-1, -2, -3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.nii")
			tc.h.description = "PATIENT NAME MUST NOT MATTER"
			niftiFile(t, path, tc.h)
			v, err := LoadVolume(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, v.Grid.Affine, cmpopts.EquateApprox(0, 1e-6)); d != "" {
				t.Errorf("affine (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.lps, v.Grid.Affine.Apply(tc.voxel), cmpopts.EquateApprox(0, 1e-6)); d != "" {
				t.Errorf("voxel %v in LPS (-want +got):\n%s", tc.voxel, d)
			}
			if v.Grid.Dims != tc.h.dims || len(v.Data) != v.Grid.Len() || v.Data[5] != 5 {
				t.Errorf("dims %v, %d values, value 5 = %v", v.Grid.Dims, len(v.Data), v.Data[5])
			}
			if v.Source != nil {
				t.Errorf("a NIfTI volume has no DICOM source; got %+v", v.Source)
			}
		})
	}
}

func TestLoadStudyErrors(t *testing.T) {
	base := header{dims: [3]int{4, 3, 2}, pixdim: [3]float32{1, 1, 1}, qfac: 1, sformCod: 1, srow: [3][4]float32{{-1, 0, 0, 0}, {0, -1, 0, 239}, {0, 0, 1, 0}}}
	shifted := base
	shifted.srow[2][3] = 5
	tests := []struct {
		name  string
		files map[string]header
		want  string
	}{
		{"empty folder", nil, "expected exactly one *-t1c.nii.gz"},
		{"no flair", map[string]header{"c-t1c.nii.gz": base, "c-t1n.nii.gz": base}, "c-t2f.nii.gz is missing"},
		{"grids differ", map[string]header{"c-t1c.nii.gz": base, "c-t1n.nii.gz": base, "c-t2f.nii.gz": shifted}, "the t2f grid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, h := range tc.files {
				// Not gzip-compressed: firmware/nifti tells by the magic bytes.
				niftiFile(t, filepath.Join(dir, name), h)
			}
			_, err := LoadStudy(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "realcheck: ") {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		dir := t.TempDir()
		for _, s := range []string{"t1c", "t1n", "t2f"} {
			niftiFile(t, filepath.Join(dir, "c-"+s+".nii.gz"), base)
		}
		s, err := LoadStudy(dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != "c" || s.Grid().Dims != base.dims {
			t.Errorf("name %q dims %v", s.Name, s.Grid().Dims)
		}
	})
}
