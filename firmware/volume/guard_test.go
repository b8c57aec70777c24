package volume

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metsentry/firmware/dcmguard/dcmguardtest"
	"metsentry/firmware/testenv"
)

// TestCheckStructureFixtures: every DICOM file in the shared data passes the
// length walk (all transfer syntaxes, sequences, encapsulated pixel data).
func TestCheckStructureFixtures(t *testing.T) {
	root := testenv.SharedData(t, "dicom")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".txt", ".md", ".nii":
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := checkStructure(b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 400 {
		t.Fatalf("walked %d files", n)
	}
}

// TestCheckStructureCorrupt: lengths that overrun the file are refused
// before the parser can allocate them.
func TestCheckStructureCorrupt(t *testing.T) {
	good, err := os.ReadFile(testenv.SharedData(t, "dicom", "dicom2nifti-fixtures", "siemens_anatomical_001", "IM-0001-0112-0001.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	// The pixel data element is the last one: its 4-byte length sits 4
	// bytes before the pixels.
	pix := len(good) - 256*256*2
	if binary.LittleEndian.Uint32(good[pix-4:]) != 256*256*2 {
		t.Fatalf("fixture layout changed: no pixel data length at %d", pix-4)
	}
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"huge pixel length", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[pix-4:], 0xFFFFFFF0); return b }, "declares 4294967280 bytes"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }, "remain"},
		{"no preamble", func(b []byte) []byte { return b[132:] }, "DICM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(append([]byte(nil), good...))
			err := checkStructure(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			p := filepath.Join(t.TempDir(), "bad.dcm")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readInstance(p); ReasonOf(err) != ReasonUnreadable {
				t.Fatalf("readInstance: %v", err)
			}
		})
	}
}

// TestCheckStructureDeepNesting: a stored file of sequences nested without
// end (what overflowed the SCP's stack) is refused by the shared limits,
// not handed to the parser, in every syntax.
func TestCheckStructureDeepNesting(t *testing.T) {
	for _, ts := range []string{dcmguardtest.ImplicitVRLittleEndian, dcmguardtest.ExplicitVRLittleEndian, dcmguardtest.DeflatedExplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			im := dcmguardtest.DefaultImage(1)
			im.Nested = 200_000
			b := im.File(ts)
			if err := checkStructure(b); err == nil || !strings.Contains(err.Error(), "nested deeper than 16 levels") {
				t.Fatalf("checkStructure = %v, want the nesting refusal", err)
			}
			p := filepath.Join(t.TempDir(), "nested.dcm")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readInstance(p); ReasonOf(err) != ReasonUnreadable {
				t.Fatalf("readInstance: %v", err)
			}
		})
	}
}
