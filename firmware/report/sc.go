package report

import (
	"fmt"
	"image"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// SCImage is one rendered secondary-capture image before encoding.
type SCImage struct {
	Image *image.RGBA
	// Slice is the source slice shown, -1 for the summary.
	Slice int
	// Lesion is the lesion whose largest cross-section this slice holds (0
	// for the summary).
	Lesion int
}

// SCImages renders the annotated series: first a summary with the lesion
// table, then for each lesion the source slice through its largest
// cross-section (lesions sharing that slice share the image), with every
// lesion on it outlined and numbered. A lesion too small to appear on the
// source grid gets no image but stays in the table.
func SCImages(in *Input) []SCImage {
	out := []SCImage{{Image: renderSummary(in), Slice: -1}}
	if len(in.Lesions) == 0 {
		return out
	}
	s := in.Source
	per := s.Rows * s.Columns
	area := make([][]int, len(in.Lesions)+1)
	for n := range area {
		area[n] = make([]int, len(s.Slices))
	}
	for i, v := range in.Labels {
		if v != 0 {
			area[v][i/per]++
		}
	}
	lo, hi := window(in.Image)
	done := map[int]bool{}
	for _, l := range in.Lesions {
		best, bk := 0, -1
		for k, a := range area[l.Number] {
			if a > best {
				best, bk = a, k
			}
		}
		if bk < 0 || done[bk] {
			continue
		}
		done[bk] = true
		footer := fmt.Sprintf("slice %d/%d, lesion %d: %.1f mm, %s", bk+1, len(s.Slices), l.Number, l.LongestDiameterMM, l.Location)
		out = append(out, SCImage{Image: renderSlice(in, bk, lo, hi, footer), Slice: bk, Lesion: l.Number})
	}
	return out
}

// SC encodes the annotated series as Secondary Capture Image Storage
// instances (RGB, ImageType DERIVED\SECONDARY, BurnedInAnnotation YES), in
// the order SCImages returns them; each slice image references its source
// image.
func SC(in *Input, ids IDs) ([][]byte, error) {
	if err := in.check(ids); err != nil {
		return nil, err
	}
	var out [][]byte
	for i, im := range SCImages(in) {
		data, err := in.encodeSC(ids, i+1, im)
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}

func (in *Input) encodeSC(ids IDs, number int, im SCImage) ([]byte, error) {
	s := in.Source
	b := &builder{}
	t := in.Time
	uid := NewUID()
	if number-1 < len(ids.SCInstances) && ids.SCInstances[number-1] != "" {
		uid = ids.SCInstances[number-1]
	}
	bnd := im.Image.Bounds()
	desc := "metsentry summary of candidate lesions"
	if im.Slice >= 0 {
		desc = fmt.Sprintf("source slice %d with lesion outlines and numbers", im.Slice+1)
	}
	els := b.meta(SecondaryCaptureStorage, uid)
	els = append(els, s.headerCopy(b)...)
	els = append(els,
		b.s(tag.SOPClassUID, SecondaryCaptureStorage), b.s(tag.SOPInstanceUID, uid),
		b.s(tag.InstanceCreationDate, dicomDate(t)), b.s(tag.InstanceCreationTime, dicomTime(t)),
		b.s(tag.Modality, "OT"), b.s(tag.SeriesInstanceUID, ids.SCSeries), b.is(tag.SeriesNumber, in.SeriesNumber+2),
		b.s(tag.SeriesDescription, "metsentry key images NOT FOR DIAGNOSTIC USE"),
		b.s(tag.SeriesDate, dicomDate(t)), b.s(tag.SeriesTime, dicomTime(t)),
		b.s(tag.Laterality), b.s(tag.ConversionType, "WSD"),
		b.s(tag.SecondaryCaptureDeviceManufacturer, in.Equipment.Manufacturer),
		b.s(tag.SecondaryCaptureDeviceManufacturerModelName, in.Equipment.ModelName),
		b.s(tag.SecondaryCaptureDeviceSoftwareVersions, in.Equipment.SoftwareVersion),
		b.s(tag.DateOfSecondaryCapture, dicomDate(t)), b.s(tag.TimeOfSecondaryCapture, dicomTime(t)),
		b.is(tag.InstanceNumber, number), b.s(tag.PatientOrientation),
		b.s(tag.ContentDate, dicomDate(t)), b.s(tag.ContentTime, dicomTime(t)),
		b.s(tag.ImageType, "DERIVED", "SECONDARY"), b.s(tag.DerivationDescription, desc),
		b.s(tag.BurnedInAnnotation, "YES"), b.s(tag.RecognizableVisualFeatures, "NO"),
		b.s(tag.LossyImageCompression, "00"), b.s(tag.ImageComments, NotForDiagnosticUse),
		b.ints(tag.SamplesPerPixel, 3), b.s(tag.PhotometricInterpretation, "RGB"), b.ints(tag.PlanarConfiguration, 0),
		b.ints(tag.Rows, bnd.Dy()), b.ints(tag.Columns, bnd.Dx()),
		b.ints(tag.BitsAllocated, 8), b.ints(tag.BitsStored, 8), b.ints(tag.HighBit, 7), b.ints(tag.PixelRepresentation, 0),
	)
	els = append(els, in.equipment(b)...)
	if im.Slice >= 0 {
		sl := s.Slices[im.Slice]
		els = append(els, b.seq(tag.SourceImageSequence, b.sourceImageItem(sl)))
	}
	els = append(els, b.rawPixelData("OB", rgbBytes(im.Image)))
	return b.encode(els)
}
