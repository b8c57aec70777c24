package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/dcmguard"
)

// SOP classes whose one instance holds a whole series: complete on receipt.
var enhancedMR = map[string]bool{
	"1.2.840.10008.5.1.4.1.1.4.1": true, // Enhanced MR Image Storage
	"1.2.840.10008.5.1.4.1.1.4.3": true, // Enhanced MR Color Image Storage
	"1.2.840.10008.5.1.4.1.1.4.4": true, // Legacy Converted Enhanced MR Image Storage
}

// IsEnhancedMR reports whether a SOP class is an Enhanced MR multi-frame
// class, one instance of which is a whole series.
func IsEnhancedMR(sopClass string) bool { return enhancedMR[sopClass] }

// ExpectedCount returns the number of instances a series announces in its
// tags, and which tags said so: ImagesInAcquisition when present, else
// NumberOfSlices × NumberOfTemporalPositions (one temporal position when that
// tag is absent). 0 means the tags do not say.
func ExpectedCount(h Header) (int, string) {
	switch {
	case h.ImagesInAcquisition > 0:
		return h.ImagesInAcquisition, "ImagesInAcquisition"
	case h.NumberOfSlices > 0 && h.NumberOfTemporalPositions > 0:
		return h.NumberOfSlices * h.NumberOfTemporalPositions, "NumberOfSlices × NumberOfTemporalPositions"
	case h.NumberOfSlices > 0:
		return h.NumberOfSlices, "NumberOfSlices"
	}
	return 0, ""
}

// ParseHeader checks a DICOM Part 10 file of size bytes and reads the
// attributes the cache records, in one pass: dcmguard.Check walks the whole
// file within the shared limits (structure, UIDs, geometry, pixel data
// against its attributes) and hands over the values of the header's
// elements as it passes them; pixel data is skipped, never held. Geometry
// an Enhanced MR instance keeps in its shared functional groups, or in its
// first frame's, is taken where the top level lacks it. An error wraps
// ErrBadInstance, and a *dcmguard.Error when the check refused the file.
func ParseHeader(r io.ReadSeeker, size int64) (Header, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Header{}, fmt.Errorf("cache: rewind instance: %w", err)
	}
	var b headerBuilder
	_, res, err := dcmguard.Check(r, size, dcmguard.Options{Want: wantHeader, Visit: b.visit})
	var ge *dcmguard.Error
	switch {
	case errors.As(err, &ge):
		return Header{}, fmt.Errorf("%w: %w", ErrBadInstance, err)
	case err != nil:
		return Header{}, fmt.Errorf("cache: read instance: %w", err)
	}
	h := b.header(res.Meta.TransferSyntaxUID == dcmguard.ExplicitVRBigEndian)
	h.TransferSyntaxUID = res.Meta.TransferSyntaxUID
	if h.SOPInstanceUID == "" {
		h.SOPInstanceUID = res.Meta.MediaStorageSOPInstanceUID
	}
	if h.SOPClassUID == "" {
		h.SOPClassUID = res.Meta.MediaStorageSOPClassUID
	}
	switch {
	case h.SOPInstanceUID == "":
		return h, fmt.Errorf("%w: no SOP Instance UID (0008,0018)", ErrBadInstance)
	case h.StudyInstanceUID == "":
		return h, fmt.Errorf("%w: no Study Instance UID (0020,000D)", ErrBadInstance)
	case h.SeriesInstanceUID == "":
		return h, fmt.Errorf("%w: no Series Instance UID (0020,000E)", ErrBadInstance)
	}
	return h, nil
}

// headerTags are the top-level attributes a Header holds.
var headerTags = map[tag.Tag]bool{
	tag.SpecificCharacterSet: true, tag.SOPClassUID: true, tag.SOPInstanceUID: true, tag.StudyInstanceUID: true,
	tag.SeriesInstanceUID: true, tag.Modality: true, tag.SeriesNumber: true, tag.InstanceNumber: true,
	tag.AcquisitionNumber: true, tag.SeriesDescription: true, tag.ProtocolName: true, tag.SequenceName: true,
	tag.ImageType: true, tag.MRAcquisitionType: true, tag.ContrastBolusAgent: true, tag.SliceThickness: true,
	tag.SpacingBetweenSlices: true, tag.FrameOfReferenceUID: true, tag.ImageOrientationPatient: true,
	tag.ImagePositionPatient: true, tag.PixelSpacing: true, tag.Rows: true, tag.Columns: true,
	tag.NumberOfFrames: true, tag.EchoNumbers: true, tag.ImagesInAcquisition: true, tag.NumberOfSlices: true,
	tag.NumberOfTemporalPositions: true,
}

// groupGeometry are the attributes taken from an Enhanced MR instance's
// functional groups (inside the items of the macros' sequences, depth 2).
var groupGeometry = map[tag.Tag]bool{
	tag.ImagePositionPatient: true, tag.ImageOrientationPatient: true, tag.PixelSpacing: true,
	tag.SliceThickness: true, tag.SpacingBetweenSlices: true,
}

func wantHeader(t tag.Tag, depth int) bool {
	return depth == 0 && headerTags[t] || depth == 2 && groupGeometry[t]
}

// headerBuilder keeps the values the walk hands over, in order.
type headerBuilder struct {
	top   map[tag.Tag]dcmguard.Element
	group []dcmguard.Element // from the shared groups and the first frame's
}

func (b *headerBuilder) visit(e dcmguard.Element) error {
	switch {
	case e.Depth == 0:
		if b.top == nil {
			b.top = make(map[tag.Tag]dcmguard.Element, len(headerTags))
		}
		b.top[e.Tag] = e
	case e.Top == tag.SharedFunctionalGroupsSequence,
		e.Top == tag.PerFrameFunctionalGroupsSequence && e.TopItem == 0:
		b.group = append(b.group, e)
	}
	return nil
}

func (b *headerBuilder) header(bigEndian bool) Header {
	v := values{bigEndian: bigEndian}
	if cs, ok := b.top[tag.SpecificCharacterSet]; ok {
		v.latin1 = strings.Contains(strings.ToUpper(string(cs.Value)), "ISO_IR 100")
	}
	str := func(t tag.Tag) string { return v.str(b.top, t) }
	num := func(t tag.Tag) int { return v.int(b.top, t) }
	h := Header{
		SOPClassUID: str(tag.SOPClassUID), SOPInstanceUID: str(tag.SOPInstanceUID),
		StudyInstanceUID: str(tag.StudyInstanceUID), SeriesInstanceUID: str(tag.SeriesInstanceUID),
		Modality: str(tag.Modality), SeriesNumber: num(tag.SeriesNumber), InstanceNumber: num(tag.InstanceNumber),
		AcquisitionNumber: num(tag.AcquisitionNumber), SeriesDescription: str(tag.SeriesDescription),
		ProtocolName: str(tag.ProtocolName), SequenceName: str(tag.SequenceName),
		MRAcquisitionType: str(tag.MRAcquisitionType), ContrastBolusAgent: str(tag.ContrastBolusAgent),
		FrameOfReferenceUID: str(tag.FrameOfReferenceUID), Rows: num(tag.Rows), Columns: num(tag.Columns),
		NumberOfFrames: num(tag.NumberOfFrames), EchoNumbers: num(tag.EchoNumbers),
		ImagesInAcquisition: num(tag.ImagesInAcquisition), NumberOfSlices: num(tag.NumberOfSlices),
		NumberOfTemporalPositions: num(tag.NumberOfTemporalPositions),
	}
	if e, ok := b.top[tag.ImageType]; ok {
		h.ImageType = v.strs(e)
	}
	h.SliceThickness = v.floats(b.top[tag.SliceThickness], 1)[0]
	h.SpacingBetweenSlices = v.floats(b.top[tag.SpacingBetweenSlices], 1)[0]
	h.ImageOrientation = v.floats(b.top[tag.ImageOrientationPatient], 6)
	h.ImagePosition = v.floats(b.top[tag.ImagePositionPatient], 3)
	h.PixelSpacing = v.floats(b.top[tag.PixelSpacing], 2)
	for _, e := range b.group {
		switch e.Tag {
		case tag.ImagePositionPatient:
			if h.ImagePosition == nil {
				h.ImagePosition = v.floats(e, 3)
			}
		case tag.ImageOrientationPatient:
			if h.ImageOrientation == nil {
				h.ImageOrientation = v.floats(e, 6)
			}
		case tag.PixelSpacing:
			if h.PixelSpacing == nil {
				h.PixelSpacing = v.floats(e, 2)
			}
		case tag.SliceThickness:
			if h.SliceThickness == 0 {
				h.SliceThickness = v.floats(e, 1)[0]
			}
		case tag.SpacingBetweenSlices:
			if h.SpacingBetweenSlices == 0 {
				h.SpacingBetweenSlices = v.floats(e, 1)[0]
			}
		}
	}
	return h
}

// values decodes element values as the Header needs them.
type values struct {
	bigEndian bool
	latin1    bool // SpecificCharacterSet ISO_IR 100
}

// strs returns an element's values: text split at backslashes with its
// padding trimmed (ISO 8859-1 text as UTF-8), or binary integers (US, SS,
// UL, SL) written in decimal.
func (v values) strs(e dcmguard.Element) []string {
	if e.Value == nil {
		return nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if v.bigEndian {
		bo = binary.BigEndian
	}
	switch e.VR {
	case "US", "SS":
		out := make([]string, 0, len(e.Value)/2)
		for i := 0; i+2 <= len(e.Value); i += 2 {
			n := int(bo.Uint16(e.Value[i:]))
			if e.VR == "SS" {
				n = int(int16(n))
			}
			out = append(out, strconv.Itoa(n))
		}
		return out
	case "UL", "SL":
		out := make([]string, 0, len(e.Value)/4)
		for i := 0; i+4 <= len(e.Value); i += 4 {
			n := int(bo.Uint32(e.Value[i:]))
			if e.VR == "SL" {
				n = int(int32(n))
			}
			out = append(out, strconv.Itoa(n))
		}
		return out
	}
	s := string(e.Value)
	if v.latin1 && !utf8.ValidString(s) {
		r := make([]rune, len(e.Value))
		for i, c := range e.Value {
			r[i] = rune(c)
		}
		s = string(r)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = strings.TrimRight(strings.TrimSpace(p), "\x00")
	}
	return parts
}

func (v values) str(m map[tag.Tag]dcmguard.Element, t tag.Tag) string {
	e, ok := m[t]
	if !ok {
		return ""
	}
	return strings.Join(v.strs(e), `\`)
}

// int returns the first value as an integer (a decimal string is
// truncated), or 0.
func (v values) int(m map[tag.Tag]dcmguard.Element, t tag.Tag) int {
	e, ok := m[t]
	if !ok {
		return 0
	}
	vs := v.strs(e)
	if len(vs) == 0 {
		return 0
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil {
		f, ferr := strconv.ParseFloat(vs[0], 64)
		if ferr != nil {
			return 0
		}
		return int(f)
	}
	return n
}

// floats returns want numbers, or nil (want > 1) / {0} (want == 1) when
// the element does not hold that many.
func (v values) floats(e dcmguard.Element, want int) []float64 {
	out := make([]float64, 0, want)
	for _, s := range v.strs(e) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			break
		}
		out = append(out, f)
	}
	if len(out) < want {
		if want == 1 {
			return []float64{0}
		}
		return nil
	}
	return out[:want]
}
