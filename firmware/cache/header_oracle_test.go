package cache

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/testenv"
)

// TestParseHeaderAgreesWithDICOMLibrary reads every Part 10 file of the
// shared data (all vendors and transfer syntaxes there) with ParseHeader,
// which takes the values from dcmguard's one bounded walk: the checks must
// not refuse a real file, and the Header must be the one an independent
// reader built on github.com/suyashkumar/dicom gives.
func TestParseHeaderAgreesWithDICOMLibrary(t *testing.T) {
	root := testenv.SharedData(t, "dicom")
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".txt", ".md", ".nii", ".gz", ".json", ".bval", ".bvec":
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		var pre [132]byte
		if _, err := f.ReadAt(pre[:], 0); err != nil || string(pre[128:]) != "DICM" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		got, err := ParseHeader(f, fi.Size())
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		want, err := oracleHeader(f, fi.Size())
		if err != nil {
			t.Errorf("%s: the DICOM library: %v", rel, err)
			return nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n ParseHeader %+v\n library     %+v", rel, got, want)
		}
		n++
		return nil
	})
	if n < 400 {
		t.Fatalf("only %d Part 10 files compared under %s", n, root)
	}
	t.Logf("%d files agree", n)
}

// lastHeaderTag is the last top-level tag the library reader reads.
var lastHeaderTag = tag.PerFrameFunctionalGroupsSequence

// oracleHeader reads a Header with the DICOM library, as the cache did
// before ParseHeader read values from the bounded walk.
func oracleHeader(r io.ReadSeeker, size int64) (h Header, err error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return h, err
	}
	p, err := dicom.NewParser(bufio.NewReaderSize(r, 64<<10), size, nil, dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return h, err
	}
	meta := p.GetMetadata()
	h.TransferSyntaxUID = oStrValue(oracleFind(&meta, tag.TransferSyntaxUID))
	msop := oStrValue(oracleFind(&meta, tag.MediaStorageSOPInstanceUID))
	mclass := oStrValue(oracleFind(&meta, tag.MediaStorageSOPClassUID))
	for {
		e, err := p.Next()
		if errors.Is(err, dicom.ErrorEndOfDICOM) || errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, err
		}
		if e.Tag.Group > lastHeaderTag.Group || (e.Tag.Group == lastHeaderTag.Group && e.Tag.Element > lastHeaderTag.Element) {
			break
		}
		h.oracleSet(e)
	}
	if h.SOPInstanceUID == "" {
		h.SOPInstanceUID = msop
	}
	if h.SOPClassUID == "" {
		h.SOPClassUID = mclass
	}
	return h, nil
}

func oracleFind(ds *dicom.Dataset, t tag.Tag) *dicom.Element {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return nil
	}
	return e
}

func (h *Header) oracleSet(e *dicom.Element) {
	switch e.Tag {
	case tag.SOPClassUID:
		h.SOPClassUID = oStrValue(e)
	case tag.SOPInstanceUID:
		h.SOPInstanceUID = oStrValue(e)
	case tag.StudyInstanceUID:
		h.StudyInstanceUID = oStrValue(e)
	case tag.SeriesInstanceUID:
		h.SeriesInstanceUID = oStrValue(e)
	case tag.Modality:
		h.Modality = oStrValue(e)
	case tag.SeriesNumber:
		h.SeriesNumber = oIntValue(e)
	case tag.InstanceNumber:
		h.InstanceNumber = oIntValue(e)
	case tag.AcquisitionNumber:
		h.AcquisitionNumber = oIntValue(e)
	case tag.SeriesDescription:
		h.SeriesDescription = oStrValue(e)
	case tag.ProtocolName:
		h.ProtocolName = oStrValue(e)
	case tag.SequenceName:
		h.SequenceName = oStrValue(e)
	case tag.ImageType:
		h.ImageType = oStrValues(e)
	case tag.MRAcquisitionType:
		h.MRAcquisitionType = oStrValue(e)
	case tag.ContrastBolusAgent:
		h.ContrastBolusAgent = oStrValue(e)
	case tag.SliceThickness:
		h.SliceThickness = oFloatValues(e, 1)[0]
	case tag.SpacingBetweenSlices:
		h.SpacingBetweenSlices = oFloatValues(e, 1)[0]
	case tag.FrameOfReferenceUID:
		h.FrameOfReferenceUID = oStrValue(e)
	case tag.ImageOrientationPatient:
		h.ImageOrientation = oFloatValues(e, 6)
	case tag.ImagePositionPatient:
		h.ImagePosition = oFloatValues(e, 3)
	case tag.PixelSpacing:
		h.PixelSpacing = oFloatValues(e, 2)
	case tag.Rows:
		h.Rows = oIntValue(e)
	case tag.Columns:
		h.Columns = oIntValue(e)
	case tag.NumberOfFrames:
		h.NumberOfFrames = oIntValue(e)
	case tag.EchoNumbers:
		h.EchoNumbers = oIntValue(e)
	case tag.ImagesInAcquisition:
		h.ImagesInAcquisition = oIntValue(e)
	case tag.NumberOfSlices:
		h.NumberOfSlices = oIntValue(e)
	case tag.NumberOfTemporalPositions:
		h.NumberOfTemporalPositions = oIntValue(e)
	case tag.SharedFunctionalGroupsSequence, tag.PerFrameFunctionalGroupsSequence:
		h.oracleSetShared(e)
	}
}

// setShared takes geometry an Enhanced MR instance keeps in its shared (or
// first per-frame) functional groups, where a classic instance has it at the top level.
func (h *Header) oracleSetShared(e *dicom.Element) {
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
							h.ImagePosition = oFloatValues(x, 3)
						}
					case tag.ImageOrientationPatient:
						if h.ImageOrientation == nil {
							h.ImageOrientation = oFloatValues(x, 6)
						}
					case tag.PixelSpacing:
						if h.PixelSpacing == nil {
							h.PixelSpacing = oFloatValues(x, 2)
						}
					case tag.SliceThickness:
						if h.SliceThickness == 0 {
							h.SliceThickness = oFloatValues(x, 1)[0]
						}
					case tag.SpacingBetweenSlices:
						if h.SpacingBetweenSlices == 0 {
							h.SpacingBetweenSlices = oFloatValues(x, 1)[0]
						}
					}
				}
			}
		}
	}
}

func oStrValues(e *dicom.Element) []string {
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

func oStrValue(e *dicom.Element) string { return strings.Join(oStrValues(e), `\`) }

func oIntValue(e *dicom.Element) int {
	vs := oStrValues(e)
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
func oFloatValues(e *dicom.Element, want int) []float64 {
	vs := oStrValues(e)
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
