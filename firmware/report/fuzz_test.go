package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/suyashkumar/dicom"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/testenv"
)

// FuzzSourceFromDatasets feeds SourceFromDatasets (which reads headers sent
// by the scanner) with arbitrary parsed files: it must return a Source or an
// error, never panic, and a Source it returns must validate. As in the box,
// only what the cache's guard (dcmguard) accepts reaches the DICOM library:
// unguarded, the library allocates whatever a length field says.
func FuzzSourceFromDatasets(f *testing.F) {
	dir := testenv.SharedData(f, "dicom", "philips-mprage-sag3d")
	for _, n := range []string{"1301_0001.dcm", "1301_0002.dcm"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			f.Fatal(err)
		}
		// Headers only: cut at the Pixel Data element so the fuzzer mutates
		// what SourceFromDatasets reads, not 128 KiB of pixels.
		if i := bytes.Index(b, []byte{0xe0, 0x7f, 0x10, 0x00}); i > 0 {
			b = b[:i]
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := dcmguard.Walk(bytes.NewReader(b), int64(len(b)), dcmguard.Options{}); err != nil {
			return
		}
		ds, err := dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipPixelData())
		if err != nil {
			return
		}
		if _, err := SourceFromDatasets([]dicom.Dataset{ds, ds}); err == nil {
			t.Fatal("two copies of one image were accepted as two slices")
		}
		src, err := SourceFromDatasets([]dicom.Dataset{ds})
		if err == nil {
			if verr := src.Validate(); verr != nil {
				t.Fatalf("returned an invalid source: %v", verr)
			}
			_ = src.Grid()
		}
	})
}
