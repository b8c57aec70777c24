package dcmguard_test

import (
	"bytes"
	"strings"
	"testing"

	"metsentry/firmware/dcmguard"
	"metsentry/firmware/dcmguard/dcmguardtest"
)

// TestCheckRefusals: each spoiled attribute of an otherwise valid image is
// refused as Invalid with a reason short enough for an Error Comment, in
// every syntax; the valid image passes.
func TestCheckRefusals(t *testing.T) {
	long := "1." + strings.Repeat("2", 63)
	for _, tc := range []struct {
		name  string
		spoil func(*dcmguardtest.Image)
		want  string // "" = accepted
	}{
		{"valid", func(*dcmguardtest.Image) {}, ""},
		{"odd 8-bit pixel count with its pad byte", func(im *dcmguardtest.Image) { im.Rows, im.Columns, im.BitsAllocated, im.PixelBytes = 3, 3, 8, 10 }, ""},
		{"path in Study UID", func(im *dcmguardtest.Image) { im.StudyInstanceUID = "../../../etc" }, "Study Instance UID has a non-digit character"},
		{"letters in Series UID", func(im *dcmguardtest.Image) { im.SeriesInstanceUID = "1.2.abc" }, "Series Instance UID has a non-digit character"},
		{"65-character SOP UID", func(im *dcmguardtest.Image) { im.SOPInstanceUID = long }, "SOP Instance UID is 65 characters, over 64"},
		{"empty component", func(im *dcmguardtest.Image) { im.StudyInstanceUID = "1.2..3" }, "Study Instance UID has an empty component"},
		{"trailing dot", func(im *dcmguardtest.Image) { im.SeriesInstanceUID = "1.2.3." }, "Series Instance UID has an empty component"},
		{"leading zero", func(im *dcmguardtest.Image) { im.SOPInstanceUID = "1.2.03" }, "SOP Instance UID has a leading zero"},
		{"no Study UID", func(im *dcmguardtest.Image) { im.StudyInstanceUID = "" }, "no Study Instance UID"},
		{"NaN position", func(im *dcmguardtest.Image) { im.ImagePositionPatient = `0\NaN\0` }, "ImagePositionPatient holds a value that is not finite"},
		{"Inf orientation", func(im *dcmguardtest.Image) { im.ImageOrientationPatient = `1\0\0\0\Inf\0` }, "ImageOrientationPatient holds a value that is not finite"},
		{"overflowing spacing", func(im *dcmguardtest.Image) { im.PixelSpacing = `1e999\1` }, "PixelSpacing holds a value that is not finite"},
		{"zero spacing", func(im *dcmguardtest.Image) { im.PixelSpacing = `0\1` }, "PixelSpacing must be positive"},
		{"text in position", func(im *dcmguardtest.Image) { im.ImagePositionPatient = `0\abc\0` }, `not a decimal number`},
		{"two numbers of position", func(im *dcmguardtest.Image) { im.ImagePositionPatient = `0\0` }, "ImagePositionPatient holds 2 values, 3 expected"},
		{"BitsAllocated 0", func(im *dcmguardtest.Image) { im.BitsAllocated = 0 }, "BitsAllocated 0"},
		{"BitsAllocated 12", func(im *dcmguardtest.Image) { im.BitsAllocated, im.PixelBytes = 12, 512 }, "BitsAllocated 12"},
		{"Rows 0", func(im *dcmguardtest.Image) { im.Rows = 0 }, "Rows 0 and Columns 16"},
		{"Columns 0", func(im *dcmguardtest.Image) { im.Columns = 0 }, "Rows 16 and Columns 0"},
		{"pixel data short", func(im *dcmguardtest.Image) { im.PixelBytes = 300 }, "pixel data is 300 bytes; its attributes need 512"},
		{"pixel data long", func(im *dcmguardtest.Image) { im.PixelBytes = 1024 }, "pixel data is 1024 bytes; its attributes need 512"},
	} {
		for _, sx := range syntaxes {
			t.Run(tc.name+"/"+sx.name, func(t *testing.T) {
				im := dcmguardtest.DefaultImage(7)
				tc.spoil(&im)
				b := im.File(sx.ts)
				a, _, err := dcmguard.Check(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
				if tc.want == "" {
					if err != nil {
						t.Fatal(err)
					}
					if a.SOPInstanceUID != im.SOPInstanceUID || a.Rows != int(im.Rows) || a.BitsAllocated != int(im.BitsAllocated) || a.NumberOfFrames != 1 {
						t.Fatalf("attributes %+v", a)
					}
					return
				}
				refusal(t, err, dcmguard.Invalid, tc.want)
				var ge *dcmguard.Error
				if _ = errorsAs(err, &ge); len(ge.Reason) > 64 {
					t.Errorf("reason %q is %d characters, more than an Error Comment holds", ge.Reason, len(ge.Reason))
				}
			})
		}
	}
}

// TestCheckTruncated: a file cut anywhere in its pixel data (the attack
// sent one cut at 60%) is refused as Malformed, whatever the syntax.
func TestCheckTruncated(t *testing.T) {
	for _, sx := range syntaxes {
		t.Run(sx.name, func(t *testing.T) {
			im := dcmguardtest.DefaultImage(3)
			im.Rows, im.Columns = 128, 128
			b := im.File(sx.ts)
			b = b[:len(b)*6/10]
			_, _, err := dcmguard.Check(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
			refusal(t, err, dcmguard.Malformed, "truncated data set")
		})
	}
}

// TestCheckEncapsulated: encapsulated pixel data must end with its
// delimiter and hold a fragment per frame.
func TestCheckEncapsulated(t *testing.T) {
	const jpegLS = "1.2.840.10008.1.2.4.80"
	im := dcmguardtest.DefaultImage(4)
	ds := im.DataSet(dcmguardtest.ExplicitVRLittleEndian)
	cut := bytes.Index(ds, []byte{0xE0, 0x7F, 0x10, 0x00})
	encaps := func(frags ...[]byte) []byte {
		b := append([]byte{}, ds[:cut]...)
		b = append(b, 0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF)
		for _, f := range frags {
			b = append(b, 0xFE, 0xFF, 0x00, 0xE0, byte(len(f)), byte(len(f)>>8), 0, 0)
			b = append(b, f...)
		}
		return b
	}
	delim := func(b []byte) []byte { return append(b, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0) }
	for _, tc := range []struct {
		name string
		ds   []byte
		kind dcmguard.Kind
		want string
	}{
		{"complete", delim(encaps(nil, make([]byte, 100))), 0, ""},
		{"offset table for one frame", delim(encaps(make([]byte, 4), make([]byte, 100))), 0, ""},
		{"no delimiter", encaps(nil, make([]byte, 100)), dcmguard.Malformed, "truncated data set"},
		{"offset table only", delim(encaps(nil)), dcmguard.Invalid, "0 pixel data fragments for 1 frames"},
		{"offset table of two frames", delim(encaps(make([]byte, 8), make([]byte, 100))), dcmguard.Invalid, "offset table of 8 bytes for 1 frames"},
		{"native pixel data", ds, dcmguard.Invalid, "native pixel data in compressed transfer syntax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dcmguardtest.Part10(jpegLS, im.SOPClassUID, im.SOPInstanceUID, tc.ds)
			_, _, err := dcmguard.Check(bytes.NewReader(b), int64(len(b)), dcmguard.Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			refusal(t, err, tc.kind, tc.want)
		})
	}
}

func TestValidUID(t *testing.T) {
	for _, tc := range []struct {
		uid string
		ok  bool
	}{
		{"1.2.840.10008.1.2", true},
		{"0", true},
		{"1.0.3", true},
		{"2.25." + strings.Repeat("9", 59), true},
		{"2.25." + strings.Repeat("9", 60), false},
		{"", false},
		{".1", false},
		{"1..2", false},
		{"1.02", false},
		{"1.2 ", false},
		{"1.2a", false},
		{"../../../etc", false},
	} {
		if got := dcmguard.ValidUID(tc.uid); got != tc.ok {
			t.Errorf("ValidUID(%q) = %v, want %v", tc.uid, got, tc.ok)
		}
	}
}
