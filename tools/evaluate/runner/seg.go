package runner

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// ErrSEG wraps every problem with a segmentation object being scored.
var ErrSEG = errors.New("evaluate: SEG")

// ReadSEG turns a BINARY DICOM SEG (as firmware/report writes it and the
// daemon sends it back) into a label volume on the source grid: each frame
// is placed on the slice whose SOPInstanceUID its source image reference
// names (sliceOf), with the frame's segment number as the label. Frames are
// placed by that reference alone, never by their index: a SEG holds only
// the frames where a segment has pixels, in any order, and slices without
// a frame stay 0. Frame f's pixels start at bit f×Rows×Columns of the pixel
// data (1-bit frames are packed back to back, PS3.5 8.1.1).
func ReadSEG(path string, dims [3]int, sliceOf map[string]int) ([]uint16, error) {
	ds, err := dicom.ParseFile(path, nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSEG, path, err)
	}
	str := func(elems []*dicom.Element, t tag.Tag) string {
		for _, e := range elems {
			if e.Tag == t {
				if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
					return strings.TrimSpace(v[0])
				}
				if v, ok := e.Value.GetValue().([]int); ok && len(v) > 0 {
					return strconv.Itoa(v[0])
				}
			}
		}
		return ""
	}
	items := func(elems []*dicom.Element, t tag.Tag) [][]*dicom.Element {
		for _, e := range elems {
			if e.Tag == t {
				if v, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok {
					out := make([][]*dicom.Element, len(v))
					for i, it := range v {
						out[i], _ = it.GetValue().([]*dicom.Element)
					}
					return out
				}
			}
		}
		return nil
	}
	top := ds.Elements
	if c := str(top, tag.SOPClassUID); c != "1.2.840.10008.5.1.4.1.1.66.4" {
		return nil, fmt.Errorf("%w: SOP class %q is not Segmentation Storage", ErrSEG, c)
	}
	if t := str(top, tag.SegmentationType); t != "BINARY" {
		return nil, fmt.Errorf("%w: segmentation type %q (only BINARY is scored)", ErrSEG, t)
	}
	rows, _ := strconv.Atoi(str(top, tag.Rows))
	cols, _ := strconv.Atoi(str(top, tag.Columns))
	if rows != dims[1] || cols != dims[0] {
		return nil, fmt.Errorf("%w: frames are %d×%d, the source slices %d×%d", ErrSEG, cols, rows, dims[0], dims[1])
	}
	frames := items(top, tag.PerFrameFunctionalGroupsSequence)
	if n, err := strconv.Atoi(str(top, tag.NumberOfFrames)); err != nil || n != len(frames) || n == 0 {
		return nil, fmt.Errorf("%w: Number of Frames %q, %d per-frame functional groups (expected the same number, at least 1)", ErrSEG, str(top, tag.NumberOfFrames), len(frames))
	}
	var pix []byte
	for _, e := range top {
		if e.Tag == tag.PixelData {
			if p, ok := e.Value.GetValue().(dicom.PixelDataInfo); ok {
				pix = p.UnprocessedValueData
			}
		}
	}
	frameBits := rows * cols
	if len(pix)*8 < len(frames)*frameBits {
		return nil, fmt.Errorf("%w: %d bytes of pixel data for %d frames of %d×%d", ErrSEG, len(pix), len(frames), cols, rows)
	}
	labels := make([]uint16, dims[0]*dims[1]*dims[2])
	for f, fg := range frames {
		var sops []string
		for _, d := range items(fg, tag.DerivationImageSequence) {
			for _, s := range items(d, tag.SourceImageSequence) {
				sops = append(sops, str(s, tag.ReferencedSOPInstanceUID))
			}
		}
		if len(sops) != 1 {
			return nil, fmt.Errorf("%w: frame %d names %d source images (expected one, the slice it lies on)", ErrSEG, f+1, len(sops))
		}
		k, ok := sliceOf[sops[0]]
		if !ok || k < 0 || k >= dims[2] {
			return nil, fmt.Errorf("%w: frame %d refers to image %q, which is not a slice of the source series", ErrSEG, f+1, sops[0])
		}
		segStr := ""
		for _, s := range items(fg, tag.SegmentIdentificationSequence) {
			segStr = str(s, tag.ReferencedSegmentNumber)
		}
		seg, err := strconv.Atoi(segStr)
		if err != nil || seg < 1 || seg > 65535 {
			return nil, fmt.Errorf("%w: frame %d has segment number %q", ErrSEG, f+1, segStr)
		}
		base := f * frameBits
		off := k * frameBits
		for i := 0; i < frameBits; i++ {
			b := base + i
			if pix[b>>3]&(1<<(b&7)) != 0 {
				labels[off+i] = uint16(seg)
			}
		}
	}
	return labels, nil
}
