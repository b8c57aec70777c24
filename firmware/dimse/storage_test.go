package dimse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
)

// TestDirStorageChecksBeforeKeeping: DirStorage runs the cache's check
// (dcmguard.Check) before it keeps an instance, so a tool storing with it
// answers Success only for what the box would accept. A refused instance
// leaves no file behind, final or temporary.
func TestDirStorageChecksBeforeKeeping(t *testing.T) {
	spoil := func(ts string, f func(*dcmguardtest.Image)) []byte {
		im := dcmguardtest.DefaultImage(3)
		f(&im)
		return im.File(ts)
	}
	tests := []struct {
		name string
		file []byte
		want dcmguard.Kind // 0: kept
	}{
		{"valid image", spoil(dcmguardtest.ExplicitVRLittleEndian, func(*dcmguardtest.Image) {}), 0},
		{"valid deflated image", spoil(dcmguardtest.DeflatedExplicitVRLittleEndian, func(*dcmguardtest.Image) {}), 0},
		{"pixel data short", spoil(dcmguardtest.ImplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.PixelBytes = 100 }), dcmguard.Invalid},
		{"path as Study UID", spoil(dcmguardtest.ExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.StudyInstanceUID = "../../../etc" }), dcmguard.Invalid},
		{"NaN orientation", spoil(dcmguardtest.ExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.ImageOrientationPatient = `1\0\0\0\NaN\0` }), dcmguard.Invalid},
		{"deflated, nested 100000 deep", spoil(dcmguardtest.DeflatedExplicitVRLittleEndian, func(im *dcmguardtest.Image) { im.Nested = 100_000 }), dcmguard.Malformed},
		{"truncated at 60%", func() []byte {
			b := spoil(dcmguardtest.ExplicitVRLittleEndian, func(*dcmguardtest.Image) {})
			return b[:len(b)*6/10]
		}(), dcmguard.Malformed},
		{"not DICOM", []byte("instance"), dcmguard.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			st := DirStorage{Dir: dir}
			f, err := st.CreateTemp()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tt.file); err != nil {
				t.Fatal(err)
			}
			const uid = "1.2.826.0.1.3680043.10.1599.9.1.3"
			err = st.Store(context.Background(), f, Instance{SOPInstanceUID: uid})
			entries, _ := os.ReadDir(dir)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Store: %v", err)
				}
				kept, err := os.ReadFile(st.Path(uid))
				if err != nil || !bytes.Equal(kept, tt.file) {
					t.Fatalf("kept file differs from what was sent (err %v)", err)
				}
				if len(entries) != 1 {
					t.Errorf("%d files in the folder, want 1", len(entries))
				}
				return
			}
			var ge *dcmguard.Error
			if !errors.As(err, &ge) || ge.Kind != tt.want {
				t.Fatalf("Store = %v, want a %v *dcmguard.Error", err, tt.want)
			}
			if code, _, _ := storageStatus(err, ""); code == StatusSuccess {
				t.Errorf("refusal maps to status %#04x", code)
			}
			if len(entries) != 0 {
				t.Errorf("refused instance left %d files: %v", len(entries), entries[0].Name())
			}
		})
	}
}
