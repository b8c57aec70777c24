package nifti

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"metsentry/firmware/testenv"
)

func TestRoundTrip(t *testing.T) {
	h := Header{Dims: [3]int{3, 4, 5}, Spacing: [3]float64{1, 1.5, 2}}
	h.Affine = [4][4]float64{{-1, 0, 0, 10}, {0, -1.5, 0, 20}, {0, 0, 2, -30}, {0, 0, 0, 1}}
	n := 3 * 4 * 5
	f := make([]float32, n)
	u := make([]uint16, n)
	for i := range f {
		f[i] = float32(i)*0.5 - 3
		u[i] = uint16(i * 1000)
	}
	for _, tc := range []struct {
		name string
		file string
	}{{"plain", "v.nii"}, {"gzip", "v.nii.gz"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.file)
			if err := WriteFloat32(p, h, f); err != nil {
				t.Fatal(err)
			}
			v, err := ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(f, v.Data); diff != "" {
				t.Errorf("float data (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(h.Affine, v.Affine); diff != "" {
				t.Errorf("affine (-want +got):\n%s", diff)
			}
			if v.Dims != h.Dims || v.Spacing != h.Spacing || v.DataType != DTFloat32 {
				t.Errorf("got dims %v spacing %v type %d", v.Dims, v.Spacing, v.DataType)
			}
			if err := WriteUint16(p, h, u); err != nil {
				t.Fatal(err)
			}
			v, err = ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := range u {
				if v.Data[i] != float32(u[i]) {
					t.Fatalf("uint16 voxel %d: got %v want %d", i, v.Data[i], u[i])
				}
			}
		})
	}
}

func TestReadColin27(t *testing.T) {
	v, err := ReadFile(testenv.SharedData(t, "anatomy", "colin27", "aal.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Dims != [3]int{181, 217, 181} {
		t.Fatalf("dims %v, want 181×217×181", v.Dims)
	}
	if v.Affine[0][3] != -90 || v.Affine[1][3] != -126 && v.Affine[1][3] != -125 || v.Affine[2][3] != -71 {
		t.Errorf("unexpected sform origin %v", v.Affine)
	}
	max := float32(0)
	for _, x := range v.Data {
		if x > max {
			max = x
		}
	}
	if max != 116 {
		t.Errorf("largest AAL label %v, want 116", max)
	}
}

func TestReadErrors(t *testing.T) {
	good := encodeHeader(Header{Dims: [3]int{2, 2, 2}, Spacing: [3]float64{1, 1, 1}}, DTUint8, 8)
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return append(b, make([]byte, 8)...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", good[:100]},
		{"bad sizeof_hdr", mut(func(b []byte) { b[0] = 1 })},
		{"bad magic", mut(func(b []byte) { copy(b[344:], "ni1\x00") })},
		{"bad datatype", mut(func(b []byte) { b[70] = 99 })},
		{"bitpix mismatch", mut(func(b []byte) { b[72] = 16 })},
		{"4D", mut(func(b []byte) { b[40] = 4; b[48] = 3 })},
		{"truncated data", good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(tc.in)); !errors.Is(err, ErrFormat) {
				t.Errorf("got %v, want ErrFormat", err)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.nii")); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzRead(f *testing.F) {
	good := encodeHeader(Header{Dims: [3]int{2, 2, 2}, Spacing: [3]float64{1, 1, 1}}, DTInt16, 16)
	f.Add(append(bytes.Clone(good), make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 60 {
			// keep allocations small: cap the dims the fuzzer can ask for
			for d := 0; d < 3; d++ {
				b[43+2*d] &= 0x01
			}
		}
		v, err := Read(bytes.NewReader(b))
		if err == nil && len(v.Data) != v.Dims[0]*v.Dims[1]*v.Dims[2] {
			t.Fatalf("data length %d for dims %v", len(v.Data), v.Dims)
		}
	})
}
