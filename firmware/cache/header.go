package cache

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
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

// lastHeaderTag is the last top-level tag ParseHeader reads: the per-frame
// functional groups of an Enhanced MR instance (whose first item gives
// geometry the shared groups may lack). Pixel data is never read.
var lastHeaderTag = tag.PerFrameFunctionalGroupsSequence

// ParseHeader reads the attributes the cache records from a DICOM Part 10
// file of size bytes. It first checks the whole file with dcmguard.Check
// (validate.go: structure within the shared limits, UIDs, geometry, pixel
// data against its attributes), then lets the DICOM parser read the header
// only: up to the per-frame functional groups, never the pixel data. An
// error wraps ErrBadInstance, and a *dcmguard.Error when the check refused
// the file.
func ParseHeader(r io.ReadSeeker, size int64) (h Header, err error) {
	defer func() {
		// The parser is fed outside input; a panic in it is a bad file,
		// never a crashed SCP.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: DICOM parser failed: %v", ErrBadInstance, p)
		}
	}()
	hr, n, err := headerOnly(r, size)
	if err != nil {
		return Header{}, err
	}
	p, err := dicom.NewParser(bufio.NewReaderSize(hr, 64<<10), n, nil, dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return Header{}, fmt.Errorf("%w: not a DICOM Part 10 file: %v", ErrBadInstance, err)
	}
	meta := p.GetMetadata()
	h.TransferSyntaxUID = strValue(find(&meta, tag.TransferSyntaxUID))
	msop := strValue(find(&meta, tag.MediaStorageSOPInstanceUID))
	mclass := strValue(find(&meta, tag.MediaStorageSOPClassUID))
	for {
		e, err := p.Next()
		if errors.Is(err, dicom.ErrorEndOfDICOM) || errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Header{}, fmt.Errorf("%w: DICOM parse: %v", ErrBadInstance, err)
		}
		if e.Tag.Group > lastHeaderTag.Group || (e.Tag.Group == lastHeaderTag.Group && e.Tag.Element > lastHeaderTag.Element) {
			break
		}
		h.set(e)
	}
	if h.SOPInstanceUID == "" {
		h.SOPInstanceUID = msop
	}
	if h.SOPClassUID == "" {
		h.SOPClassUID = mclass
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

func find(ds *dicom.Dataset, t tag.Tag) *dicom.Element {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return nil
	}
	return e
}

func (h *Header) set(e *dicom.Element) {
	switch e.Tag {
	case tag.SOPClassUID:
		h.SOPClassUID = strValue(e)
	case tag.SOPInstanceUID:
		h.SOPInstanceUID = strValue(e)
	case tag.StudyInstanceUID:
		h.StudyInstanceUID = strValue(e)
	case tag.SeriesInstanceUID:
		h.SeriesInstanceUID = strValue(e)
	case tag.Modality:
		h.Modality = strValue(e)
	case tag.SeriesNumber:
		h.SeriesNumber = intValue(e)
	case tag.InstanceNumber:
		h.InstanceNumber = intValue(e)
	case tag.AcquisitionNumber:
		h.AcquisitionNumber = intValue(e)
	case tag.SeriesDescription:
		h.SeriesDescription = strValue(e)
	case tag.ProtocolName:
		h.ProtocolName = strValue(e)
	case tag.SequenceName:
		h.SequenceName = strValue(e)
	case tag.ImageType:
		h.ImageType = strValues(e)
	case tag.MRAcquisitionType:
		h.MRAcquisitionType = strValue(e)
	case tag.ContrastBolusAgent:
		h.ContrastBolusAgent = strValue(e)
	case tag.SliceThickness:
		h.SliceThickness = floatValues(e, 1)[0]
	case tag.SpacingBetweenSlices:
		h.SpacingBetweenSlices = floatValues(e, 1)[0]
	case tag.FrameOfReferenceUID:
		h.FrameOfReferenceUID = strValue(e)
	case tag.ImageOrientationPatient:
		h.ImageOrientation = floatValues(e, 6)
	case tag.ImagePositionPatient:
		h.ImagePosition = floatValues(e, 3)
	case tag.PixelSpacing:
		h.PixelSpacing = floatValues(e, 2)
	case tag.Rows:
		h.Rows = intValue(e)
	case tag.Columns:
		h.Columns = intValue(e)
	case tag.NumberOfFrames:
		h.NumberOfFrames = intValue(e)
	case tag.EchoNumbers:
		h.EchoNumbers = intValue(e)
	case tag.ImagesInAcquisition:
		h.ImagesInAcquisition = intValue(e)
	case tag.NumberOfSlices:
		h.NumberOfSlices = intValue(e)
	case tag.NumberOfTemporalPositions:
		h.NumberOfTemporalPositions = intValue(e)
	case tag.SharedFunctionalGroupsSequence, tag.PerFrameFunctionalGroupsSequence:
		h.setShared(e)
	}
}

// setShared takes geometry an Enhanced MR instance keeps in its shared (or
// first per-frame) functional groups, where a classic instance has it at the top level.
func (h *Header) setShared(e *dicom.Element) {
	items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return
	}
	if e.Tag == tag.PerFrameFunctionalGroupsSequence && len(items) > 1 {
		items = items[:1]
	}
	for _, it := range items {
		elems, _ := it.GetValue().([]*dicom.Element)
		for _, g := range elems {
			sub, ok := g.Value.GetValue().([]*dicom.SequenceItemValue)
			if !ok {
				continue
			}
			for _, si := range sub {
				inner, _ := si.GetValue().([]*dicom.Element)
				for _, x := range inner {
					switch x.Tag {
					case tag.ImagePositionPatient:
						if h.ImagePosition == nil {
							h.ImagePosition = floatValues(x, 3)
						}
					case tag.ImageOrientationPatient:
						if h.ImageOrientation == nil {
							h.ImageOrientation = floatValues(x, 6)
						}
					case tag.PixelSpacing:
						if h.PixelSpacing == nil {
							h.PixelSpacing = floatValues(x, 2)
						}
					case tag.SliceThickness:
						if h.SliceThickness == 0 {
							h.SliceThickness = floatValues(x, 1)[0]
						}
					case tag.SpacingBetweenSlices:
						if h.SpacingBetweenSlices == 0 {
							h.SpacingBetweenSlices = floatValues(x, 1)[0]
						}
					}
				}
			}
		}
	}
}

func strValues(e *dicom.Element) []string {
	if e == nil || e.Value == nil {
		return nil
	}
	switch v := e.Value.GetValue().(type) {
	case []string:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, strings.TrimRight(strings.TrimSpace(s), "\x00"))
		}
		return out
	case []int:
		out := make([]string, len(v))
		for i, n := range v {
			out[i] = strconv.Itoa(n)
		}
		return out
	}
	return nil
}

func strValue(e *dicom.Element) string { return strings.Join(strValues(e), `\`) }

func intValue(e *dicom.Element) int {
	vs := strValues(e)
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

// floatValues returns want numbers, or nil (want > 1) / {0} (want == 1) when
// the element does not hold that many.
func floatValues(e *dicom.Element, want int) []float64 {
	vs := strValues(e)
	out := make([]float64, 0, want)
	for _, s := range vs {
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
