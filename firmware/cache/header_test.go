package cache

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
)

func TestParseHeaderRefusals(t *testing.T) {
	good, err := os.ReadFile(dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no preamble", []byte("DICM")},
		{"truncated meta", good[:140]},
		{"truncated data set", good[:2000]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(bytes.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, ErrBadInstance) {
				t.Fatalf("ParseHeader = %v, want ErrBadInstance", err)
			}
		})
	}
}

// FuzzParseHeader feeds outside input (what a peer sends) to the header
// parser: it must return a header with the three UIDs or an error wrapping
// ErrBadInstance, never panic or hang.
func FuzzParseHeader(f *testing.F) {
	for _, rel := range [][]string{{"dicom", "ge-mprage-ax-oblique"}, {"dicom", "philips-mprage-sag3d"}, {"dicom", "dicom2nifti-fixtures", "philips_enhanced_anatomical_001"}} {
		data, err := os.ReadFile(dicomFiles(f, rel...)[0])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 16<<10)])
	}
	// Whole small images, which pass the check, so the fuzzer starts past it
	// and reaches the DICOM parser; and nesting just past the depth limit.
	for _, ts := range []string{dcmguardtest.ImplicitVRLittleEndian, dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.DeflatedExplicitVRLittleEndian} {
		im := dcmguardtest.DefaultImage(1)
		im.Rows, im.Columns = 4, 4
		f.Add(im.File(ts))
		im.Nested = dcmguard.DefaultLimits.MaxDepth + 1
		f.Add(im.File(ts))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrBadInstance) {
				t.Fatalf("error %v does not wrap ErrBadInstance", err)
			}
			return
		}
		if h.SOPInstanceUID == "" || h.SeriesInstanceUID == "" || h.StudyInstanceUID == "" {
			t.Fatalf("header without UIDs accepted: %+v", h)
		}
	})
}

// TestParseHeaderHugeLength: a small file declaring a 2 GB element (what the
// fuzzer found first) is refused without allocating it.
func TestParseHeaderHugeLength(t *testing.T) {
	good, err := os.ReadFile(dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0])
	if err != nil {
		t.Fatal(err)
	}
	end, _, err := metaGroup(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		elem []byte
	}{
		{"OB past the end", []byte{0x09, 0x00, 0x01, 0x10, 'O', 'B', 0, 0, 0xf0, 0xff, 0xff, 0x7f}},
		{"sequence past the end", []byte{0x08, 0x00, 0x15, 0x11, 'S', 'Q', 0, 0, 0x00, 0x00, 0x00, 0x70}},
		{"item inside a sequence past the end", []byte{0x08, 0x00, 0x15, 0x11, 'S', 'Q', 0, 0, 0xff, 0xff, 0xff, 0xff,
			0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00, 0x50, 0x11, 'U', 'N', 0, 0, 0xf0, 0xff, 0xff, 0x7f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := append(append(append([]byte{}, good[:end]...), tc.elem...), make([]byte, 64)...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ParseHeader(bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadInstance) {
				t.Fatalf("ParseHeader = %v, want ErrBadInstance", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("refusing it allocated %d MiB", grew>>20)
			}
		})
	}
}
