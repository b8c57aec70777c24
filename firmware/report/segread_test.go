package report

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/geom"
)

// segView is a SEG we wrote, read back independently of the writer: each
// frame placed on the source grid by its plane position, and what it says
// about itself.
type segView struct {
	frames []frameView
	// labels is the mask rebuilt on the source grid (flat, like Input.Labels).
	labels []uint16
	// cielab holds each segment's RecommendedDisplayCIELabValue.
	cielab map[int][]int
	// listed maps each instance in the ReferencedSeriesSequence to its
	// series ("series/instance" → SOP class).
	listed map[string]string
}

// frameView is one frame of a segView.
type frameView struct {
	segment, slice int // slice found from the frame's ImagePositionPatient
	refClass       string
	refUID         string
	refFrame       int // ReferencedFrameNumber, 0 when absent
	dimIndex       []int
	ones           int // pixels set
}

// elems returns the elements of a sequence item.
func elems(it *dicom.SequenceItemValue) []*dicom.Element {
	els, _ := it.GetValue().([]*dicom.Element)
	return els
}

// seqItems returns the items of the sequence t among els (nil when absent).
func seqItems(els []*dicom.Element, t tag.Tag) [][]*dicom.Element {
	for _, e := range els {
		if e.Tag == t {
			var out [][]*dicom.Element
			for _, it := range e.Value.GetValue().([]*dicom.SequenceItemValue) {
				out = append(out, elems(it))
			}
			return out
		}
	}
	return nil
}

// one returns the single item of sequence t, failing when there is not
// exactly one.
func one(t testing.TB, els []*dicom.Element, tg tag.Tag, what string) []*dicom.Element {
	t.Helper()
	its := seqItems(els, tg)
	if len(its) != 1 {
		t.Fatalf("%s: %s has %d items, want 1", what, tag.DebugString(tg), len(its))
	}
	return its[0]
}

// strVal and intVals read a value among els ("" / nil when absent).
func strVal(els []*dicom.Element, tg tag.Tag) string {
	for _, e := range els {
		if e.Tag == tg {
			if v, ok := e.Value.GetValue().([]string); ok && len(v) > 0 {
				return strings.TrimRight(strings.Join(v, `\`), " \x00")
			}
		}
	}
	return ""
}

func intVals(els []*dicom.Element, tg tag.Tag) []int {
	for _, e := range els {
		if e.Tag == tg {
			switch v := e.Value.GetValue().(type) {
			case []int:
				return v
			case []string:
				var out []int
				for _, s := range v {
					n, err := strconv.Atoi(strings.TrimSpace(s))
					if err != nil {
						return nil
					}
					out = append(out, n)
				}
				return out
			}
		}
	}
	return nil
}

// readSEG parses a SEG we wrote over src and checks what every SEG of ours
// must hold, whatever its lesions: a frame count that matches the
// functional groups and the pixel data, frames in segment-then-slice order,
// each frame on a source slice position with a source image reference
// (class, instance, frame, purpose of reference) naming that slice, listed
// under the source series in the ReferencedSeriesSequence, dimension index
// values that agree with the frame, and a display colour for every segment.
func readSEG(t testing.TB, data []byte, src *Source) *segView {
	t.Helper()
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipProcessingPixelDataValue())
	if err != nil {
		t.Fatalf("parsing our SEG: %v", err)
	}
	top := ds.Elements
	rows, cols := intVals(top, tag.Rows), intVals(top, tag.Columns)
	if len(rows) != 1 || len(cols) != 1 || rows[0] != src.Rows || cols[0] != src.Columns {
		t.Fatalf("SEG %v×%v, source %d×%d", rows, cols, src.Rows, src.Columns)
	}
	fb := src.Rows * src.Columns
	v := &segView{cielab: map[int][]int{}, listed: map[string]string{}, labels: make([]uint16, len(src.Slices)*fb)}

	for _, sg := range seqItems(top, tag.SegmentSequence) {
		n := intVals(sg, tag.SegmentNumber)
		lab := intVals(sg, tag.RecommendedDisplayCIELabValue)
		if len(n) != 1 || len(lab) != 3 {
			t.Errorf("segment %v: RecommendedDisplayCIELabValue %v (want 3 values)", n, lab)
			continue
		}
		v.cielab[n[0]] = lab
	}
	for _, rs := range seqItems(top, tag.ReferencedSeriesSequence) {
		series := strVal(rs, tag.SeriesInstanceUID)
		for _, ri := range seqItems(rs, tag.ReferencedInstanceSequence) {
			v.listed[series+"/"+strVal(ri, tag.ReferencedSOPInstanceUID)] = strVal(ri, tag.ReferencedSOPClassUID)
		}
	}

	pe, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		t.Fatal(err)
	}
	raw := dicom.MustGetPixelDataInfo(pe.Value).UnprocessedValueData
	items := seqItems(top, tag.PerFrameFunctionalGroupsSequence)
	nf := intVals(top, tag.NumberOfFrames)
	if len(nf) != 1 || nf[0] != len(items) || len(items) == 0 {
		t.Fatalf("NumberOfFrames %v, %d per-frame items", nf, len(items))
	}
	if want := (len(items)*fb + 7) / 8; len(raw) != want+want%2 {
		t.Fatalf("pixel data is %d bytes, %d frames of %d bits need %d (padded to even)", len(raw), len(items), fb, want+want%2)
	}
	posIndex := map[string]int{}
	for k, sl := range src.Slices {
		posIndex[posKey(sl.Position)] = k
	}
	for f, it := range items {
		what := fmt.Sprintf("frame %d", f+1)
		var pos geom.Vec3
		ipp := strings.Split(strVal(one(t, it, tag.PlanePositionSequence, what), tag.ImagePositionPatient), `\`)
		if len(ipp) != 3 {
			t.Fatalf("%s: ImagePositionPatient %v", what, ipp)
		}
		for i, s := range ipp {
			pos[i] = parseF(t, s)
		}
		k, ok := posIndex[posKey(pos)]
		if !ok {
			t.Fatalf("%s: position %v is not a source slice position", what, pos)
		}
		seg := intVals(one(t, it, tag.SegmentIdentificationSequence, what), tag.ReferencedSegmentNumber)
		if len(seg) != 1 {
			t.Fatalf("%s: ReferencedSegmentNumber %v", what, seg)
		}
		fv := frameView{segment: seg[0], slice: k, dimIndex: intVals(one(t, it, tag.FrameContentSequence, what), tag.DimensionIndexValues)}

		der := one(t, it, tag.DerivationImageSequence, what)
		if c := one(t, der, tag.DerivationCodeSequence, what); strVal(c, tag.CodeValue) != "113076" || strVal(c, tag.CodingSchemeDesignator) != "DCM" {
			t.Errorf("%s: derivation code %q %q, want 113076 DCM", what, strVal(c, tag.CodeValue), strVal(c, tag.CodingSchemeDesignator))
		}
		si := one(t, der, tag.SourceImageSequence, what)
		fv.refClass, fv.refUID = strVal(si, tag.ReferencedSOPClassUID), strVal(si, tag.ReferencedSOPInstanceUID)
		if rf := intVals(si, tag.ReferencedFrameNumber); len(rf) == 1 {
			fv.refFrame = rf[0]
		}
		if c := one(t, si, tag.PurposeOfReferenceCodeSequence, what); strVal(c, tag.CodeValue) != "121322" || strVal(c, tag.CodingSchemeDesignator) != "DCM" {
			t.Errorf("%s: purpose of reference %q %q, want 121322 DCM", what, strVal(c, tag.CodeValue), strVal(c, tag.CodingSchemeDesignator))
		}
		sl := src.Slices[k]
		if fv.refUID != sl.SOPInstanceUID || fv.refClass != sl.SOPClassUID || fv.refFrame != sl.Frame {
			t.Fatalf("%s lies on slice %d (%s frame %d) but refers to %s %s frame %d", what, k, sl.SOPInstanceUID, sl.Frame, fv.refClass, fv.refUID, fv.refFrame)
		}
		if cls, ok := v.listed[src.SeriesInstanceUID+"/"+fv.refUID]; !ok || cls != fv.refClass {
			t.Errorf("%s refers to %s, which the ReferencedSeriesSequence does not list under series %s", what, fv.refUID, src.SeriesInstanceUID)
		}
		if !slices.Equal(fv.dimIndex, []int{fv.segment, k + 1}) {
			t.Errorf("%s: DimensionIndexValues %v, want [%d %d]", what, fv.dimIndex, fv.segment, k+1)
		}
		if _, ok := v.cielab[fv.segment]; !ok {
			t.Errorf("%s: segment %d is not described with a colour", what, fv.segment)
		}
		if f > 0 {
			p := v.frames[f-1]
			if p.segment > fv.segment || (p.segment == fv.segment && p.slice >= fv.slice) {
				t.Errorf("%s (segment %d slice %d) follows segment %d slice %d: want segment, then slice order", what, fv.segment, k, p.segment, p.slice)
			}
		}
		for p := range fb {
			bit := f*fb + p
			if raw[bit>>3]&(1<<(bit&7)) == 0 {
				continue
			}
			fv.ones++
			if old := v.labels[k*fb+p]; old != 0 {
				t.Fatalf("voxel %d of slice %d is in segments %d and %d", p, k, old, fv.segment)
			}
			v.labels[k*fb+p] = uint16(fv.segment)
		}
		v.frames = append(v.frames, fv)
	}
	// Bits past the last frame are padding and must be 0.
	for bit := len(items) * fb; bit < len(raw)*8; bit++ {
		if raw[bit>>3]&(1<<(bit&7)) != 0 {
			t.Fatalf("padding bit %d after the last frame is set", bit)
		}
	}
	return v
}

// checkSparse checks that v holds exactly the frames the label mask calls
// for (one per segment and slice holding a pixel of it, no empty frame)
// and that the mask comes back voxel for voxel.
func checkSparse(t testing.TB, v *segView, in *Input) {
	t.Helper()
	fb := in.Source.Rows * in.Source.Columns
	want := map[[2]int]bool{}
	for i, l := range in.Labels {
		if l != 0 {
			want[[2]int{int(l), i / fb}] = true
		}
	}
	got := map[[2]int]bool{}
	for f, fr := range v.frames {
		if fr.ones == 0 {
			t.Errorf("frame %d (segment %d, slice %d) is empty", f+1, fr.segment, fr.slice)
		}
		got[[2]int{fr.segment, fr.slice}] = true
	}
	if len(v.frames) != len(want) || len(got) != len(want) {
		t.Errorf("%d frames (%d distinct), the mask has %d non-empty segment slices", len(v.frames), len(got), len(want))
	}
	if !slices.Equal(v.labels, in.Labels) {
		diff := 0
		for i := range v.labels {
			if v.labels[i] != in.Labels[i] {
				diff++
			}
		}
		t.Errorf("SEG mask differs from the lesion mask in %d voxels", diff)
	}
	for _, l := range in.Lesions {
		if _, ok := v.cielab[l.Number]; !ok {
			t.Errorf("lesion %d has no segment with a display colour", l.Number)
		}
	}
}
