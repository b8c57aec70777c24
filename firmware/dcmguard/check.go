package dcmguard

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Attributes are the values Check read and accepted.
type Attributes struct {
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	Rows, Columns, BitsAllocated, SamplesPerPixel, NumberOfFrames    int
}

// imageClasses are the SOP classes whose instances must carry an Image
// Pixel module (Rows, Columns, BitsAllocated, Pixel Data).
var imageClasses = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.4":   true, // MR Image Storage
	"1.2.840.10008.5.1.4.1.1.4.1": true, // Enhanced MR Image Storage
	"1.2.840.10008.5.1.4.1.1.4.3": true, // Enhanced MR Color Image Storage
	"1.2.840.10008.5.1.4.1.1.4.4": true, // Legacy Converted Enhanced MR Image Storage
	"1.2.840.10008.5.1.4.1.1.7":   true, // Secondary Capture Image Storage
}

// geometry are the attributes whose numbers must be finite wherever they
// appear (top level or in functional groups), with their multiplicity.
var geometry = map[tag.Tag]struct {
	name string
	vm   int
}{
	tag.ImagePositionPatient:    {"ImagePositionPatient", 3},
	tag.ImageOrientationPatient: {"ImageOrientationPatient", 6},
	tag.PixelSpacing:            {"PixelSpacing", 2},
}

// Check walks a Part 10 file as Walk does, then checks what an image needs
// before it may be acknowledged:
//   - SOP Class, SOP Instance, Study Instance and Series Instance UIDs are
//     present (SOP ones from the file meta group when the data set lacks
//     them) and well formed (ValidUID);
//   - ImagePositionPatient, ImageOrientationPatient and PixelSpacing, at
//     any depth, hold 3, 6 and 2 finite numbers (spacings positive);
//   - for an image SOP class or any data set with pixel attributes: Rows and
//     Columns 1..65535, BitsAllocated 8, 16 or 32, SamplesPerPixel 1 or 3,
//     NumberOfFrames 1 or more, and Pixel Data whose length equals Rows ×
//     Columns × BitsAllocated/8 × SamplesPerPixel × NumberOfFrames (plus one
//     pad byte when odd) in a native transfer syntax, or encapsulated with a
//     fragment per frame at least (and a Basic Offset Table, when not empty,
//     of one offset per frame) in the others.
//
// A refusal is an *Error: Malformed from the walk, Invalid from the checks.
func Check(r io.Reader, size int64, opt Options) (Attributes, Result, error) {
	c := &checker{vals: map[tag.Tag]Element{}}
	want, visit := opt.Want, opt.Visit
	opt.Want = func(t tag.Tag, depth int) bool {
		if _, ok := geometry[t]; ok {
			return true
		}
		if depth == 0 && topWanted[t] {
			return true
		}
		return want != nil && want(t, depth)
	}
	opt.Visit = func(e Element) error {
		if err := c.visit(e); err != nil {
			return err
		}
		if visit != nil && want != nil && want(e.Tag, e.Depth) {
			return visit(e)
		}
		return nil
	}
	res, err := Walk(r, size, opt)
	if err != nil {
		return Attributes{}, res, err
	}
	a, err := c.check(res)
	return a, res, err
}

var topWanted = map[tag.Tag]bool{
	tag.SOPClassUID: true, tag.SOPInstanceUID: true, tag.StudyInstanceUID: true, tag.SeriesInstanceUID: true,
	tag.Rows: true, tag.Columns: true, tag.BitsAllocated: true, tag.SamplesPerPixel: true, tag.NumberOfFrames: true,
}

type checker struct {
	vals map[tag.Tag]Element // top-level values
}

func (c *checker) visit(e Element) error {
	if g, ok := geometry[e.Tag]; ok {
		if err := checkGeometry(g.name, g.vm, e); err != nil {
			return err
		}
	}
	if e.Depth == 0 && topWanted[e.Tag] {
		c.vals[e.Tag] = e
	}
	return nil
}

func checkGeometry(name string, vm int, e Element) error {
	if e.Value == nil {
		return invalid("%s value of %d bytes", name, e.Length)
	}
	vs := splitValues(e.Value)
	if len(vs) != vm {
		return invalid("%s holds %d values, %d expected", name, len(vs), vm)
	}
	for _, s := range vs {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		switch {
		case err != nil && !isRangeErr(err):
			return invalid("%s holds %q, not a decimal number", name, clip(s))
		case math.IsNaN(f) || math.IsInf(f, 0):
			return invalid("%s holds a value that is not finite", name)
		case e.Tag == tag.PixelSpacing && f <= 0:
			return invalid("PixelSpacing must be positive")
		}
	}
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

// splitValues splits a string value into its backslash-separated values,
// without trailing padding.
func splitValues(v []byte) []string {
	s := strings.TrimRight(string(v), " \x00")
	return strings.Split(s, `\`)
}

func (c *checker) str(t tag.Tag) (string, bool) {
	e, ok := c.vals[t]
	if !ok {
		return "", false
	}
	return strings.TrimRight(string(e.Value), " \x00"), true
}

// us reads a US value; ok is false when absent.
func (c *checker) us(t tag.Tag, name string, bo func([]byte) uint16) (int, bool, error) {
	e, ok := c.vals[t]
	if !ok {
		return 0, false, nil
	}
	if e.VR != "US" || len(e.Value) != 2 {
		return 0, true, invalid("%s must be one US value (VR %s, %d bytes)", name, e.VR, e.Length)
	}
	return int(bo(e.Value)), true, nil
}

func (c *checker) check(res Result) (Attributes, error) {
	var a Attributes
	for _, u := range []struct {
		t    tag.Tag
		name string
		meta string
		dst  *string
	}{
		{tag.SOPClassUID, "SOP Class UID", res.Meta.MediaStorageSOPClassUID, &a.SOPClassUID},
		{tag.SOPInstanceUID, "SOP Instance UID", res.Meta.MediaStorageSOPInstanceUID, &a.SOPInstanceUID},
		{tag.StudyInstanceUID, "Study Instance UID", "", &a.StudyInstanceUID},
		{tag.SeriesInstanceUID, "Series Instance UID", "", &a.SeriesInstanceUID},
	} {
		s, ok := c.str(u.t)
		if !ok || s == "" {
			s = u.meta
		}
		if s == "" {
			return a, invalid("no %s %v", u.name, u.t)
		}
		if why := uidProblem(s); why != "" {
			return a, invalid("%s %s (PS3.5 9.1)", u.name, why)
		}
		*u.dst = s
	}

	bo := littleUint16
	if res.Meta.TransferSyntaxUID == ExplicitVRBigEndian {
		bo = bigUint16
	}
	var present [4]bool
	var err error
	if a.Rows, present[0], err = c.us(tag.Rows, "Rows", bo); err != nil {
		return a, err
	}
	if a.Columns, present[1], err = c.us(tag.Columns, "Columns", bo); err != nil {
		return a, err
	}
	if a.BitsAllocated, present[2], err = c.us(tag.BitsAllocated, "BitsAllocated", bo); err != nil {
		return a, err
	}
	spp, hasSPP, err := c.us(tag.SamplesPerPixel, "SamplesPerPixel", bo)
	if err != nil {
		return a, err
	}
	present[3] = res.PixelData.Present
	if !imageClasses[a.SOPClassUID] && present == [4]bool{} {
		return a, nil // not an image, and nothing claims pixels
	}
	a.SamplesPerPixel, a.NumberOfFrames = 1, 1
	if hasSPP {
		a.SamplesPerPixel = spp
	}
	if s, ok := c.str(tag.NumberOfFrames); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return a, invalid("NumberOfFrames %q is not a positive integer", clip(s))
		}
		a.NumberOfFrames = n
	}
	switch {
	case !present[0] || !present[1] || a.Rows == 0 || a.Columns == 0:
		return a, invalid("Rows %d and Columns %d: an image needs 1 or more of each", a.Rows, a.Columns)
	case a.BitsAllocated != 8 && a.BitsAllocated != 16 && a.BitsAllocated != 32:
		return a, invalid("BitsAllocated %d: 8, 16 or 32 expected", a.BitsAllocated)
	case a.SamplesPerPixel != 1 && a.SamplesPerPixel != 3:
		return a, invalid("SamplesPerPixel %d: 1 or 3 expected", a.SamplesPerPixel)
	case !res.PixelData.Present:
		return a, invalid("image without Pixel Data (7FE0,0010)")
	}
	pd := res.PixelData
	if Native(res.Meta.TransferSyntaxUID) {
		if pd.Encapsulated {
			return a, invalid("encapsulated pixel data in a native transfer syntax")
		}
		want := float64(a.Rows) * float64(a.Columns) * float64(a.BitsAllocated/8) * float64(a.SamplesPerPixel) * float64(a.NumberOfFrames)
		l := float64(pd.Length)
		if l != want && !(math.Mod(want, 2) == 1 && l == want+1) {
			return a, invalid("pixel data is %d bytes; its attributes need %.0f", pd.Length, want)
		}
		return a, nil
	}
	switch {
	case !pd.Encapsulated:
		return a, invalid("native pixel data in compressed transfer syntax %s", res.Meta.TransferSyntaxUID)
	case pd.Fragments < a.NumberOfFrames:
		return a, invalid("%d pixel data fragments for %d frames", pd.Fragments, a.NumberOfFrames)
	case pd.OffsetTableBytes != 0 && pd.OffsetTableBytes != 4*int64(a.NumberOfFrames):
		return a, invalid("offset table of %d bytes for %d frames", pd.OffsetTableBytes, a.NumberOfFrames)
	}
	return a, nil
}

func littleUint16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func bigUint16(b []byte) uint16    { return uint16(b[1]) | uint16(b[0])<<8 }

// ValidUID reports whether s is a UID as PS3.5 §9.1 defines it: at most 64
// characters, components of digits separated by single dots, no component
// empty or with a leading zero (a lone "0" is allowed).
func ValidUID(s string) bool { return uidProblem(s) == "" }

// uidProblem says what is wrong with a UID, or "".
func uidProblem(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("is %d characters, over 64", len(s))
	}
	if s == "" {
		return "is empty"
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return "has a non-digit character"
		}
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			continue
		}
		switch {
		case i == start:
			return "has an empty component"
		case s[start] == '0' && i-start > 1:
			return "has a leading zero"
		}
		start = i + 1
	}
	return ""
}
