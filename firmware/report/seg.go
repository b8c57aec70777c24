package report

import (
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Codes used in the SEG and SR.
var (
	codeMorphAbnormal = code{"49755003", "SCT", "Morphologically Abnormal Structure"}
	codeMetastasis    = code{"14799000", "SCT", "Neoplasm, Secondary"}
	codeBrain         = code{"12738006", "SCT", "Brain"}
	codeSegmentation  = code{"113076", "DCM", "Segmentation"}
	codeSourceImage   = code{"121322", "DCM", "Source image for image processing operation"}
	// codeAIFamily is from CID 7162 (Surgical/Algorithm Family).
	codeAIFamily = code{"123110", "DCM", "Artificial Intelligence"}
)

// SEG builds the DICOM Segmentation (BINARY) for in: one segment per lesion,
// on the source grid, holding only the frames that contain at least one
// pixel of their segment (empty frames are omitted, as highdicom and dcmqi
// do), ordered by segment number, then by slice position along the source
// grid. Each frame names its source image (and frame, for an enhanced
// source) in its Derivation Image Sequence, and every image it names is
// listed under the source series in the Referenced Series Sequence. A study
// without lesions has no SEG (a Segmentation needs at least one segment);
// the SR says the study is negative instead.
func SEG(in *Input, ids IDs) ([]byte, error) {
	if err := in.check(ids); err != nil {
		return nil, err
	}
	if len(in.Lesions) == 0 {
		return nil, fmt.Errorf("report: no lesions, so no SEG (the SR records the negative study)")
	}
	s := in.Source
	b := &builder{}
	t := in.Time
	frameLen := s.Rows * s.Columns
	frames := segFrames(in.Labels, len(in.Lesions), len(s.Slices), frameLen)

	els := b.meta(SegmentationStorage, ids.SEGInstance)
	els = append(els, s.headerCopy(b)...)
	els = append(els,
		// SOP Common
		b.s(tag.SOPClassUID, SegmentationStorage), b.s(tag.SOPInstanceUID, ids.SEGInstance),
		b.s(tag.InstanceCreationDate, dicomDate(t)), b.s(tag.InstanceCreationTime, dicomTime(t)),
		// General Series + Segmentation Series
		b.s(tag.Modality, "SEG"), b.s(tag.SeriesInstanceUID, ids.SEGSeries), b.is(tag.SeriesNumber, in.SeriesNumber),
		b.s(tag.SeriesDescription, "metsentry lesion segmentation"), b.s(tag.SeriesDate, dicomDate(t)), b.s(tag.SeriesTime, dicomTime(t)),
		// Frame of Reference
		b.s(tag.FrameOfReferenceUID, s.FrameOfReferenceUID), b.s(tag.PositionReferenceIndicator, nonEmpty(s.PositionReferenceIndicator)...),
	)
	els = append(els, in.equipment(b)...)
	// General Image, Segmentation Image, Image Pixel
	els = append(els,
		b.is(tag.InstanceNumber, 1), b.s(tag.ContentDate, dicomDate(t)), b.s(tag.ContentTime, dicomTime(t)),
		b.s(tag.ImageType, "DERIVED", "PRIMARY"), b.s(tag.ContentLabel, "METASTASES"),
		b.s(tag.ContentDescription, "Candidate brain metastases found by "+in.Algorithm.Name),
		b.s(tag.ContentCreatorName), b.s(tag.SegmentationType, "BINARY"), b.s(tag.LossyImageCompression, "00"),
		// Each voxel carries one lesion number, so no two segments share a pixel.
		b.s(tag.SegmentsOverlap, "NO"),
		b.ints(tag.SamplesPerPixel, 1), b.s(tag.PhotometricInterpretation, "MONOCHROME2"),
		b.ints(tag.Rows, s.Rows), b.ints(tag.Columns, s.Columns),
		b.ints(tag.BitsAllocated, 1), b.ints(tag.BitsStored, 1), b.ints(tag.HighBit, 0), b.ints(tag.PixelRepresentation, 0),
		b.is(tag.NumberOfFrames, len(frames)),
		b.s(tag.BurnedInAnnotation, "NO"),
	)
	var segItems [][]*dicom.Element
	for i, l := range in.Lesions {
		segItems = append(segItems, item(
			b.ints(tag.SegmentNumber, l.Number),
			b.s(tag.SegmentLabel, fmt.Sprintf("Lesion %d", l.Number)),
			b.s(tag.SegmentDescription, l.Location.String()),
			b.s(tag.SegmentAlgorithmType, "AUTOMATIC"),
			b.s(tag.SegmentAlgorithmName, in.Algorithm.Name),
			b.seq(tag.SegmentationAlgorithmIdentificationSequence, in.algorithmItem(b)),
			b.codeSeq(tag.SegmentedPropertyCategoryCodeSequence, codeMorphAbnormal),
			b.codeSeq(tag.SegmentedPropertyTypeCodeSequence, codeMetastasis),
			b.codeSeq(tag.AnatomicRegionSequence, codeBrain),
			b.s(tag.TrackingID, fmt.Sprintf("Lesion %d", l.Number)),
			b.s(tag.TrackingUID, ids.Tracking[i]),
			b.ints(tag.RecommendedDisplayCIELabValue, labColour(l.Number)...),
		))
	}
	els = append(els, b.seq(tag.SegmentSequence, segItems...))

	// Multi-frame Dimension: segment, then position. No Dimension
	// Organization Type: "3D" promises a volume of parallel planes, and the
	// kept frames of several segments are not one.
	dimOrg := NewUID()
	els = append(els,
		b.seq(tag.DimensionOrganizationSequence, item(b.s(tag.DimensionOrganizationUID, dimOrg))),
		b.seq(tag.DimensionIndexSequence,
			item(b.ints(tag.DimensionIndexPointer, int(tag.ReferencedSegmentNumber.Group), int(tag.ReferencedSegmentNumber.Element)),
				b.ints(tag.FunctionalGroupPointer, int(tag.SegmentIdentificationSequence.Group), int(tag.SegmentIdentificationSequence.Element)),
				b.s(tag.DimensionOrganizationUID, dimOrg), b.s(tag.DimensionDescriptionLabel, "ReferencedSegmentNumber")),
			item(b.ints(tag.DimensionIndexPointer, int(tag.ImagePositionPatient.Group), int(tag.ImagePositionPatient.Element)),
				b.ints(tag.FunctionalGroupPointer, int(tag.PlanePositionSequence.Group), int(tag.PlanePositionSequence.Element)),
				b.s(tag.DimensionOrganizationUID, dimOrg), b.s(tag.DimensionDescriptionLabel, "ImagePositionPatient")),
		),
	)

	// Shared functional groups: orientation and pixel measures.
	spacing := s.Grid().Spacing()[2]
	thick := s.SliceThickness
	if thick <= 0 {
		thick = spacing
	}
	o := s.Orientation
	els = append(els, b.seq(tag.SharedFunctionalGroupsSequence, item(
		b.seq(tag.PlaneOrientationSequence, item(b.ds(tag.ImageOrientationPatient, o[:]...))),
		b.seq(tag.PixelMeasuresSequence, item(
			b.ds(tag.PixelSpacing, s.PixelSpacing[0], s.PixelSpacing[1]),
			b.ds(tag.SliceThickness, thick),
			b.ds(tag.SpacingBetweenSlices, spacing))),
	)))

	// Per-frame functional groups and pixel data. With one bit per pixel
	// the frames follow each other with no padding (PS3.5 8.1.1): frame f
	// starts at bit f×Rows×Columns, which need not be a byte boundary, and
	// pixels fill each byte from its least significant bit.
	perFrame := make([][]*dicom.Element, 0, len(frames))
	pix := make([]byte, (len(frames)*frameLen+7)/8)
	for f, fr := range frames {
		sl := s.Slices[fr.slice]
		perFrame = append(perFrame, item(
			b.seq(tag.DerivationImageSequence, item(
				b.codeSeq(tag.DerivationCodeSequence, codeSegmentation),
				b.seq(tag.SourceImageSequence, b.sourceImageItem(sl)),
			)),
			b.seq(tag.FrameContentSequence, item(b.ints(tag.DimensionIndexValues, fr.segment, fr.slice+1))),
			b.seq(tag.PlanePositionSequence, item(b.ds(tag.ImagePositionPatient, sl.Position[0], sl.Position[1], sl.Position[2]))),
			b.seq(tag.SegmentIdentificationSequence, item(b.ints(tag.ReferencedSegmentNumber, fr.segment))),
		))
		seg := uint16(fr.segment)
		bit := f * frameLen
		for _, v := range in.Labels[fr.slice*frameLen : (fr.slice+1)*frameLen] {
			if v == seg {
				pix[bit>>3] |= 1 << (bit & 7)
			}
			bit++
		}
	}
	els = append(els, b.seq(tag.PerFrameFunctionalGroupsSequence, perFrame...))
	els = append(els, s.commonInstanceReference(b))
	els = append(els, b.rawPixelData("OB", pix))
	return b.encode(els)
}

// segFrame is one frame of a SEG: a segment (lesion number) on a source
// slice (0-based index into Source.Slices).
type segFrame struct{ segment, slice int }

// segFrames lists the frames of a SEG of nSeg segments over labels: every
// (segment, slice) pair with at least one pixel of the segment, by segment,
// then slice. When no segment has a single pixel on the grid (every lesion
// was lost mapping back to the source grid), it returns one empty frame of
// segment 1 on the first slice, so the object keeps the one frame a
// Segmentation needs and the SR's references to its segments still resolve.
func segFrames(labels []uint16, nSeg, nSlices, frameLen int) []segFrame {
	has := make([]bool, nSeg*nSlices) // segment-major, like the frames
	for k := range nSlices {
		for _, v := range labels[k*frameLen : (k+1)*frameLen] {
			if v != 0 {
				has[(int(v)-1)*nSlices+k] = true
			}
		}
	}
	var out []segFrame
	for i, h := range has {
		if h {
			out = append(out, segFrame{segment: i/nSlices + 1, slice: i % nSlices})
		}
	}
	if len(out) == 0 {
		out = append(out, segFrame{segment: 1, slice: 0})
	}
	return out
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// equipment returns the General and Enhanced General Equipment modules.
func (in *Input) equipment(b *builder) []*dicom.Element {
	e := in.Equipment
	out := []*dicom.Element{
		b.s(tag.Manufacturer, e.Manufacturer), b.s(tag.ManufacturerModelName, e.ModelName),
		b.s(tag.DeviceSerialNumber, e.SerialNumber), b.s(tag.SoftwareVersions, e.SoftwareVersion),
	}
	if e.InstitutionName != "" {
		out = append(out, b.s(tag.InstitutionName, e.InstitutionName))
	}
	return out
}

// algorithmItem is the Algorithm Identification Macro (PS3.3 Table 10-19).
func (in *Input) algorithmItem(b *builder) []*dicom.Element {
	return item(
		b.codeSeq(tag.AlgorithmFamilyCodeSequence, codeAIFamily),
		b.s(tag.AlgorithmName, in.Algorithm.Name),
		b.s(tag.AlgorithmVersion, in.Algorithm.Version),
	)
}

// commonInstanceReference lists every source image (Common Instance
// Reference module, same study).
func (s *Source) commonInstanceReference(b *builder) *dicom.Element {
	var refs [][]*dicom.Element
	for _, r := range s.instances() {
		refs = append(refs, item(b.s(tag.ReferencedSOPClassUID, r.class), b.s(tag.ReferencedSOPInstanceUID, r.uid)))
	}
	return b.seq(tag.ReferencedSeriesSequence, item(
		b.s(tag.SeriesInstanceUID, s.SeriesInstanceUID),
		b.seq(tag.ReferencedInstanceSequence, refs...),
	))
}

// labColour is a distinct display colour per segment as DICOM CIELab
// (L, a, b scaled to 0..65535).
func labColour(n int) []int {
	// A few well-separated hues; L* 60, chroma ~60.
	hues := [][2]float64{{60, 50}, {-50, 50}, {10, -60}, {60, -30}, {-40, -30}, {30, 70}}
	h := hues[(n-1)%len(hues)]
	scale := func(v, lo, hi float64) int { return int((v - lo) / (hi - lo) * 65535) }
	return []int{scale(60, 0, 100), scale(h[0], -128, 127), scale(h[1], -128, 127)}
}
