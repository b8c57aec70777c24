package cache

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
)

// TestParseHeaderDeepNesting is the regression test for the C-STORE that
// killed the SCP: a data set of sequences nested without end (undefined
// lengths, 36 bytes a level) made the header walk recurse until Go's stack
// overflowed, a fatal error no recover catches. Deflated, 1.8 million
// levels are about 100 KB on the wire. Each must now be refused with a
// clear error, using little memory, and the process goes on.
func TestParseHeaderDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ts    string
		depth int
	}{
		{"explicit 200000 levels", dcmguardtest.ExplicitVRLittleEndian, 200_000},
		{"implicit 200000 levels", dcmguardtest.ImplicitVRLittleEndian, 200_000},
		{"deflated 1800000 levels", dcmguardtest.DeflatedExplicitVRLittleEndian, 1_800_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := dcmguardtest.DefaultImage(1)
			im.Nested = tc.depth
			data := im.File(tc.ts)
			t.Logf("%d bytes", len(data))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ParseHeader(bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&after)
			var ge *dcmguard.Error
			if !errors.Is(err, ErrBadInstance) || !errors.As(err, &ge) || !strings.Contains(err.Error(), "sequences nested deeper than 16 levels") {
				t.Fatalf("ParseHeader = %v, want ErrBadInstance with the nesting refusal", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
				t.Errorf("refusing it allocated %d MiB", grew>>20)
			}
		})
	}
}

// TestPutInstanceRefusesInvalid: what the attacks stored and acknowledged
// (pixel data that does not match its attributes, a file cut at 60%,
// malformed UIDs, non-finite geometry, BitsAllocated 0, no rows) is now
// refused before anything is recorded, with a *dcmguard.Error whose kind
// gives the C-STORE status and whose reason the console shows.
func TestPutInstanceRefusesInvalid(t *testing.T) {
	real, err := os.ReadFile(dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0])
	if err != nil {
		t.Fatal(err)
	}
	spoiled := func(f func(*dcmguardtest.Image)) []byte {
		im := dcmguardtest.DefaultImage(5)
		f(&im)
		return im.File(dcmguardtest.ExplicitVRLittleEndian)
	}
	for _, tc := range []struct {
		name string
		data []byte
		kind dcmguard.Kind
		want string
	}{
		{"real file cut at 60%", real[:len(real)*6/10], dcmguard.Malformed, "truncated data set"},
		{"pixel data shorter than its attributes", spoiled(func(im *dcmguardtest.Image) { im.PixelBytes = 256 }), dcmguard.Invalid, "pixel data is 256 bytes; its attributes need 512"},
		{"path as Study UID", spoiled(func(im *dcmguardtest.Image) { im.StudyInstanceUID = "../../../etc" }), dcmguard.Invalid, "Study Instance UID has a non-digit character"},
		{"70-character Series UID", spoiled(func(im *dcmguardtest.Image) { im.SeriesInstanceUID = "1.2." + strings.Repeat("3", 66) }), dcmguard.Invalid, "Series Instance UID is 70 characters"},
		{"letters in SOP UID", spoiled(func(im *dcmguardtest.Image) { im.SOPInstanceUID = "1.2.x" }), dcmguard.Invalid, "SOP Instance UID has a non-digit character"},
		{"NaN position", spoiled(func(im *dcmguardtest.Image) { im.ImagePositionPatient = `NaN\0\0` }), dcmguard.Invalid, "ImagePositionPatient holds a value that is not finite"},
		{"Inf spacing", spoiled(func(im *dcmguardtest.Image) { im.PixelSpacing = `Inf\1` }), dcmguard.Invalid, "PixelSpacing holds a value that is not finite"},
		{"BitsAllocated 0", spoiled(func(im *dcmguardtest.Image) { im.BitsAllocated = 0 }), dcmguard.Invalid, "BitsAllocated 0"},
		{"Rows 0", spoiled(func(im *dcmguardtest.Image) { im.Rows = 0 }), dcmguard.Invalid, "Rows 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := mustOpen(t, Options{})
			err := put(t, s, tc.data)
			var ge *dcmguard.Error
			if !errors.Is(err, ErrBadInstance) || !errors.As(err, &ge) {
				t.Fatalf("PutInstance = %v, want ErrBadInstance with a *dcmguard.Error", err)
			}
			if ge.Kind != tc.kind || !strings.Contains(ge.Reason, tc.want) {
				t.Fatalf("refusal %s %q, want %s containing %q", ge.Kind, ge.Reason, tc.kind, tc.want)
			}
			s.View(func(tx *Tx) error {
				return tx.AllInstances(func(Instance) error { t.Errorf("instance recorded after a refusal"); return nil })
			})
		})
	}
	// The unspoiled image is stored.
	s, _ := mustOpen(t, Options{})
	if err := put(t, s, spoiled(func(*dcmguardtest.Image) {})); err != nil {
		t.Fatalf("valid image: %v", err)
	}
}

// TestParseHeaderFloodMemory: a 24 MB data set of small items (the attack
// that took the SCP from 29 MB to 920 MB) is refused at the item limit
// before the DICOM parser builds an element for each.
func TestParseHeaderFloodMemory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ts       string
		explicit bool
	}{
		{"explicit", dcmguardtest.ExplicitVRLittleEndian, true},
		{"deflated", dcmguardtest.DeflatedExplicitVRLittleEndian, true},
		{"implicit", dcmguardtest.ImplicitVRLittleEndian, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := dcmguardtest.DefaultImage(1)
			im.Extra = dcmguardtest.Flood(1_200_000, tc.explicit) // 20 bytes an item: 24 MB
			data := im.File(tc.ts)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ParseHeader(bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadInstance) || !strings.Contains(err.Error(), "has more than 20000 items") {
				t.Fatalf("ParseHeader = %v, want ErrBadInstance with the item limit", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 80<<20 {
				t.Errorf("refusing %d MB allocated %d MiB", len(data)>>20, grew>>20)
			}
		})
	}
}
