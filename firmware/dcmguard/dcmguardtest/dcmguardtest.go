// Package dcmguardtest builds small DICOM Part 10 files for tests: a valid
// MR image whose attributes a test can spoil one at a time, and hostile
// structures (sequences nested without end, floods of small elements) in
// any of the transfer syntaxes the SCP accepts.
package dcmguardtest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
)

// Transfer syntaxes the builders write.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
)

// MRImageStorage is the SOP class Image writes.
const MRImageStorage = "1.2.840.10008.5.1.4.1.1.4"

// Image describes a single-frame MR image. DefaultImage gives a valid one;
// a test changes one field to spoil it. String values are written as they
// are (padded to an even length).
type Image struct {
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	ImagePositionPatient, ImageOrientationPatient, PixelSpacing      string
	Rows, Columns, BitsAllocated                                     uint16
	// PixelBytes is the length of the Pixel Data value; -1 means what
	// Rows × Columns × BitsAllocated/8 needs.
	PixelBytes int
	// Nested, when above 0, adds a Referenced Image Sequence (0008,1140)
	// nested that deep, in undefined lengths.
	Nested int
	// Extra is encoded elements inserted after Modality (0008,0060) and
	// before Nested, such as a Flood; their tags must sort there.
	Extra []byte
}

// DefaultImage returns a valid 16 × 16, 16-bit MR image whose UIDs end in n.
func DefaultImage(n int) Image {
	return Image{
		SOPClassUID:             MRImageStorage,
		SOPInstanceUID:          fmt.Sprintf("1.2.826.0.1.3680043.10.1599.9.1.%d", n),
		StudyInstanceUID:        "1.2.826.0.1.3680043.10.1599.9",
		SeriesInstanceUID:       "1.2.826.0.1.3680043.10.1599.9.1",
		ImagePositionPatient:    `-120\-120\` + fmt.Sprint(n),
		ImageOrientationPatient: `1\0\0\0\1\0`,
		PixelSpacing:            `0.9\0.9`,
		Rows:                    16, Columns: 16, BitsAllocated: 16,
		PixelBytes: -1,
	}
}

// DataSet encodes the image's data set (not deflated) in ts.
func (im Image) DataSet(ts string) []byte {
	e := enc{implicit: ts == ImplicitVRLittleEndian}
	e.str(0x0008, 0x0016, "UI", im.SOPClassUID, 0)
	e.str(0x0008, 0x0018, "UI", im.SOPInstanceUID, 0)
	e.str(0x0008, 0x0060, "CS", "MR", ' ')
	e.b = append(e.b, im.Extra...)
	if im.Nested > 0 {
		e.b = append(e.b, Nested(0x0008, 0x1140, im.Nested, !e.implicit)...)
	}
	e.str(0x0020, 0x000D, "UI", im.StudyInstanceUID, 0)
	e.str(0x0020, 0x000E, "UI", im.SeriesInstanceUID, 0)
	e.str(0x0020, 0x0032, "DS", im.ImagePositionPatient, ' ')
	e.str(0x0020, 0x0037, "DS", im.ImageOrientationPatient, ' ')
	e.us(0x0028, 0x0002, 1)
	e.str(0x0028, 0x0004, "CS", "MONOCHROME2", ' ')
	e.us(0x0028, 0x0010, im.Rows)
	e.us(0x0028, 0x0011, im.Columns)
	e.str(0x0028, 0x0030, "DS", im.PixelSpacing, ' ')
	e.us(0x0028, 0x0100, im.BitsAllocated)
	e.us(0x0028, 0x0101, im.BitsAllocated)
	e.us(0x0028, 0x0102, max(im.BitsAllocated, 1)-1)
	e.us(0x0028, 0x0103, 0)
	n := im.PixelBytes
	if n < 0 {
		n = int(im.Rows) * int(im.Columns) * int(im.BitsAllocated) / 8
	}
	px := make([]byte, n)
	for i := range px {
		px[i] = byte(i)
	}
	e.long(0x7FE0, 0x0010, "OW", px)
	return e.b
}

// File returns the image as a Part 10 file in ts (deflating the data set
// for the deflated syntax).
func (im Image) File(ts string) []byte {
	return Part10(ts, im.SOPClassUID, im.SOPInstanceUID, im.DataSet(ts))
}

// Nested returns one element (group, elem) of VR SQ holding one item that
// holds the same sequence again, depth levels deep, all in undefined
// lengths: 20 bytes a level, so a small message holds thousands of levels.
// explicit selects Explicit VR (the header then names SQ).
func Nested(group, elem uint16, depth int, explicit bool) []byte {
	var open []byte
	open = binary.LittleEndian.AppendUint16(open, group)
	open = binary.LittleEndian.AppendUint16(open, elem)
	if explicit {
		open = append(open, 'S', 'Q', 0, 0)
	}
	open = append(open, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF)
	closing := []byte{0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}
	b := make([]byte, 0, depth*(len(open)+len(closing)))
	for range depth {
		b = append(b, open...)
	}
	for range depth {
		b = append(b, closing...)
	}
	return b
}

// Flood returns a sequence (0008,1115) of n items, each holding one short
// element: a data set of many small elements.
func Flood(n int, explicit bool) []byte {
	e := enc{implicit: !explicit}
	var item []byte
	if explicit {
		item = []byte{0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0, 0x08, 0x00, 0x50, 0x11, 'U', 'I', 4, 0, '1', '.', '2', 0}
	} else {
		item = []byte{0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0, 0x08, 0x00, 0x50, 0x11, 4, 0, 0, 0, '1', '.', '2', 0}
	}
	e.long(0x0008, 0x1115, "SQ", bytes.Repeat(item, n))
	return e.b
}

// Part10 wraps a data set (encoded in ts, not deflated) in a preamble and
// file meta group, deflating it when ts is the deflated syntax.
func Part10(ts, sopClass, sopInstance string, ds []byte) []byte {
	out := Meta(ts, sopClass, sopInstance)
	if ts != DeflatedExplicitVRLittleEndian {
		return append(out, ds...)
	}
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(ds) //nolint:errcheck // writes to memory
	fw.Close()   //nolint:errcheck // writes to memory
	return append(out, z.Bytes()...)
}

// Meta returns the preamble and file meta group of a Part 10 file.
func Meta(ts, sopClass, sopInstance string) []byte {
	var m enc
	m.str(0x0002, 0x0001, "OB", "\x00\x01", 0)
	m.str(0x0002, 0x0002, "UI", sopClass, 0)
	m.str(0x0002, 0x0003, "UI", sopInstance, 0)
	m.str(0x0002, 0x0010, "UI", ts, 0)
	m.str(0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.10.1599", 0)
	out := make([]byte, 128, 128+4+12+len(m.b))
	out = append(out, "DICM"...)
	out = append(out, 0x02, 0, 0, 0, 'U', 'L', 4, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(m.b)))
	return append(out, m.b...)
}

// enc appends elements in Explicit (or Implicit) VR Little Endian.
type enc struct {
	b        []byte
	implicit bool
}

func (e *enc) head(group, elem uint16, vr string, n int) {
	e.b = binary.LittleEndian.AppendUint16(e.b, group)
	e.b = binary.LittleEndian.AppendUint16(e.b, elem)
	switch {
	case e.implicit && group != 0x0002:
		e.b = binary.LittleEndian.AppendUint32(e.b, uint32(n))
	case vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT":
		e.b = append(e.b, vr...)
		e.b = append(e.b, 0, 0)
		e.b = binary.LittleEndian.AppendUint32(e.b, uint32(n))
	default:
		e.b = append(e.b, vr...)
		e.b = binary.LittleEndian.AppendUint16(e.b, uint16(n))
	}
}

func (e *enc) str(group, elem uint16, vr, s string, pad byte) {
	n := len(s) + len(s)%2
	e.head(group, elem, vr, n)
	e.b = append(e.b, s...)
	if len(s)%2 == 1 {
		e.b = append(e.b, pad)
	}
}

func (e *enc) us(group, elem uint16, v uint16) {
	e.head(group, elem, "US", 2)
	e.b = binary.LittleEndian.AppendUint16(e.b, v)
}

func (e *enc) long(group, elem uint16, vr string, v []byte) {
	e.head(group, elem, vr, len(v))
	e.b = append(e.b, v...)
}
