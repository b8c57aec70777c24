package nifti

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/geom"
	"metsentry/firmware/testenv"
)

func affNear(a, b geom.Affine, tol float64) bool {
	for r := 0; r < 3; r++ {
		for c := 0; c < 4; c++ {
			if math.Abs(a[r][c]-b[r][c]) > tol {
				return false
			}
		}
	}
	return true
}

// TestReadAnatomy reads the real anatomy files the phantom uses. The expected
// sums and voxel values were computed independently with Python's gzip and
// struct modules from the raw bytes.
func TestReadAnatomy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     []string
		dims     [3]int
		dt       int16
		lps      geom.Affine // RAS sform with the first two rows negated
		sum      float64
		probe    [3]int
		probeVal float32
	}{
		{
			name: "colin27 ch2", path: []string{"anatomy", "colin27", "ch2.nii.gz"},
			dims: [3]int{181, 217, 181}, dt: DTUint8,
			lps: geom.Affine{{-1, 0, 0, 90}, {0, -1, 0, 125}, {0, 0, 1, -71}},
			sum: 317151210, probe: [3]int{90, 108, 90}, probeVal: 33,
		},
		{
			name: "brats t1c (extensions, qform and sform)", path: []string{"anatomy", "brats-gli-00001", "BraTS-GLI-00001-000-t1c.nii.gz"},
			dims: [3]int{240, 240, 155}, dt: DTInt16,
			lps: geom.Affine{{1, 0, 0, 0}, {0, 1, 0, -239}, {0, 0, 1, 0}},
			sum: 4911930402, probe: [3]int{120, 120, 77}, probeVal: 3629,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Read(testenv.SharedData(t, tc.path...))
			if err != nil {
				t.Fatal(err)
			}
			if img.Grid.Dims != tc.dims || img.Volumes != 1 || img.Datatype != tc.dt {
				t.Fatalf("dims %v volumes %d datatype %d, want %v 1 %d", img.Grid.Dims, img.Volumes, img.Datatype, tc.dims, tc.dt)
			}
			if !affNear(img.Grid.Affine, tc.lps, 1e-6) {
				t.Fatalf("affine %v, want %v", img.Grid.Affine, tc.lps)
			}
			var sum float64
			for _, v := range img.Data {
				sum += float64(v)
			}
			if sum != tc.sum {
				t.Fatalf("sum %v, want %v", sum, tc.sum)
			}
			if got := img.Data[img.Grid.Index(tc.probe[0], tc.probe[1], tc.probe[2])]; got != tc.probeVal {
				t.Fatalf("voxel %v = %v, want %v", tc.probe, got, tc.probeVal)
			}
		})
	}
}

func obliqueGrid() geom.Grid {
	// Rotated about z by 0.25 rad and about x by 0.4 rad: orthogonal, oblique.
	ca, sa, cb, sb := math.Cos(0.25), math.Sin(0.25), math.Cos(0.4), math.Sin(0.4)
	row := geom.Vec3{ca, sa, 0}
	col := geom.Vec3{-sa * cb, ca * cb, sb}
	return geom.Grid{
		Dims:   [3]int{5, 4, 3},
		Affine: geom.FromDICOM(geom.Vec3{-100.5, 20.25, 33}, row, col, [2]float64{0.9, 0.8}, row.Cross(col).Scale(1.2)),
	}
}

func TestRoundTrip(t *testing.T) {
	g := obliqueGrid()
	data := make([]float32, g.Len())
	for i := range data {
		data[i] = float32(i%97) - 20.5
	}
	for _, tc := range []struct {
		name string
		file string
		dt   int16
		want func(float32) float32
	}{
		{"float32 gzip", "a.nii.gz", 0, func(v float32) float32 { return v }},
		{"float32 plain", "a.nii", DTFloat32, func(v float32) float32 { return v }},
		{"uint8 clamps and rounds", "m.nii.gz", DTUint8, func(v float32) float32 {
			return float32(math.Max(0, math.Round(float64(v))))
		}},
		{"int16", "l.nii", DTInt16, func(v float32) float32 { return float32(math.Round(float64(v))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := Write(path, &Image{Grid: g, Data: data, Datatype: tc.dt, Description: "metsentry test"}); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if gz := len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b; gz != strings.HasSuffix(tc.file, ".gz") {
				t.Fatalf("gzip %v for %s", gz, tc.file)
			}
			img, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if img.Grid.Dims != g.Dims || !affNear(img.Grid.Affine, g.Affine, 1e-4) {
				t.Fatalf("grid %v %v, want %v %v", img.Grid.Dims, img.Grid.Affine, g.Dims, g.Affine)
			}
			if img.Description != "metsentry test" {
				t.Fatalf("description %q", img.Description)
			}
			for i, v := range data {
				if img.Data[i] != tc.want(v) {
					t.Fatalf("value %d = %v, want %v", i, img.Data[i], tc.want(v))
				}
			}
		})
	}
}

// TestQform checks the qform Write stores against the sform: with the sform
// code cleared, Read must take the same geometry from the quaternion.
func TestQform(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    geom.Grid
	}{
		{"oblique", obliqueGrid()},
		{"sagittal", geom.Grid{Dims: [3]int{2, 2, 2}, Affine: geom.FromDICOM(geom.Vec3{80, -120, 100}, geom.Vec3{0, 1, 0}, geom.Vec3{0, 0, -1}, [2]float64{1, 1}, geom.Vec3{-1, 0, 0})}},
		{"axial flipped", geom.Grid{Dims: [3]int{2, 2, 2}, Affine: geom.Affine{{-0.5, 0, 0, 10}, {0, 0.7, 0, 20}, {0, 0, -2, 30}}}},
		{"coronal", geom.Grid{Dims: [3]int{2, 2, 2}, Affine: geom.FromDICOM(geom.Vec3{1, 2, 3}, geom.Vec3{1, 0, 0}, geom.Vec3{0, 0, -1}, [2]float64{1.5, 1.5}, geom.Vec3{0, 3, 0})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Encode(&buf, &Image{Grid: tc.g, Data: make([]float32, tc.g.Len())}); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			binary.LittleEndian.PutUint16(raw[254:], 0) // sform_code 0
			img, err := Decode(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if !affNear(img.Grid.Affine, tc.g.Affine, 1e-4) {
				t.Fatalf("qform affine %v, want %v", img.Grid.Affine, tc.g.Affine)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	g := geom.Grid{Dims: [3]int{2, 2, 2}, Affine: geom.Identity}
	var buf bytes.Buffer
	if err := Encode(&buf, &Image{Grid: g, Data: make([]float32, 8)}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"short header", func(b []byte) []byte { return b[:100] }, "header"},
		{"not nifti", func(b []byte) []byte { b[0] = 1; return b }, "sizeof_hdr"},
		{"pair", func(b []byte) []byte { copy(b[344:], "ni1\x00"); return b }, ".hdr/.img"},
		{"nifti2 magic", func(b []byte) []byte { copy(b[344:], "n+2\x00"); return b }, "magic"},
		{"truncated data", func(b []byte) []byte { return b[:len(b)-3] }, "header declares"},
		{"complex", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[70:], 32); return b }, "datatype 32"},
		{"5D", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[40:], 5)
			binary.LittleEndian.PutUint16(b[50:], 2)
			return b
		}, "dims 5 to 7"},
		{"huge", func(b []byte) []byte {
			for i := 1; i <= 4; i++ {
				binary.LittleEndian.PutUint16(b[40+2*i:], 30000)
			}
			binary.LittleEndian.PutUint16(b[40:], 4)
			return b
		}, "byte limit"},
		{"singular", func(b []byte) []byte { copy(b[280:328], make([]byte, 48)); return b }, "singular"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.edit(bytes.Clone(good))))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "nifti: ") {
				t.Fatalf("err %q does not start with the package name", err)
			}
			if tc.name != "short header" && !errors.Is(err, ErrFormat) {
				t.Fatalf("err %v is not ErrFormat", err)
			}
		})
	}
	if err := Encode(&bytes.Buffer{}, &Image{Grid: g, Data: make([]float32, 7)}); err == nil {
		t.Fatal("Encode accepted 7 values for 8 voxels")
	}
}

func TestBigEndian(t *testing.T) {
	// Build a big-endian int16 file with scl_slope by hand.
	h := make([]byte, voxOffset+8)
	be := binary.BigEndian
	be.PutUint32(h[0:], headerSize)
	for i, v := range []int16{3, 2, 2, 1, 1, 1, 1, 1} {
		be.PutUint16(h[40+2*i:], uint16(v))
	}
	be.PutUint16(h[70:], uint16(DTInt16))
	for i, v := range []float32{1, 2, 3, 4} {
		be.PutUint32(h[76+4*i:], math.Float32bits(v))
	}
	be.PutUint32(h[108:], math.Float32bits(voxOffset))
	be.PutUint32(h[112:], math.Float32bits(0.5))
	be.PutUint32(h[116:], math.Float32bits(10))
	copy(h[344:], "n+1\x00")
	for i, v := range []int16{-4, 0, 2, 300} {
		be.PutUint16(h[voxOffset+2*i:], uint16(v))
	}
	img, err := Decode(bytes.NewReader(h))
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{8, 10, 11, 160}; !slicesEqual(img.Data, want) {
		t.Fatalf("data %v, want %v", img.Data, want)
	}
	// No qform or sform: pixdim scaling, then RAS→LPS.
	if want := (geom.Affine{{-2, 0, 0, 0}, {0, -3, 0, 0}, {0, 0, 4, 0}}); img.Grid.Affine != want {
		t.Fatalf("affine %v, want %v", img.Grid.Affine, want)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	g := obliqueGrid()
	if err := Encode(&buf, &Image{Grid: g, Data: make([]float32, g.Len())}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(img.Data) != img.Grid.Len()*img.Volumes {
			t.Fatalf("%d values for %v x %d", len(img.Data), img.Grid.Dims, img.Volumes)
		}
	})
}
