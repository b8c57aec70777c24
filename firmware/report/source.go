package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/geom"
)

// Slice is one image of the source series: a single-frame instance, or one
// frame of a multi-frame (enhanced) instance.
type Slice struct {
	SOPClassUID    string
	SOPInstanceUID string
	// Frame is the 1-based frame number within a multi-frame instance, 0 for
	// a single-frame instance.
	Frame    int
	Position geom.Vec3 // ImagePositionPatient, LPS mm
}

// sourceRef is one referenced instance.
type sourceRef struct{ class, uid string }

// instances lists the source instances once each, in slice order.
func (s *Source) instances() []sourceRef {
	seen := map[string]bool{}
	var out []sourceRef
	for _, sl := range s.Slices {
		if !seen[sl.SOPInstanceUID] {
			seen[sl.SOPInstanceUID] = true
			out = append(out, sourceRef{sl.SOPClassUID, sl.SOPInstanceUID})
		}
	}
	return out
}

// sourceImageItem is an item of a Source Image Sequence pointing at sl.
func (b *builder) sourceImageItem(sl Slice) []*dicom.Element {
	it := item(b.s(tag.ReferencedSOPClassUID, sl.SOPClassUID), b.s(tag.ReferencedSOPInstanceUID, sl.SOPInstanceUID),
		b.codeSeq(tag.PurposeOfReferenceCodeSequence, codeSourceImage))
	if sl.Frame > 0 {
		it = append(it, b.is(tag.ReferencedFrameNumber, sl.Frame))
	}
	return it
}

// Source describes the series the results are derived from: what the SEG
// needs to lie on its grid and reference its images, and the patient and
// study elements every result copies unchanged.
type Source struct {
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
	Rows, Columns       int
	// Orientation is ImageOrientationPatient: row direction, then column direction.
	Orientation    [6]float64
	PixelSpacing   [2]float64 // row spacing, column spacing (mm)
	SliceThickness float64
	// Slices are in grid order: slice k of the label mask is Slices[k].
	Slices []Slice
	// Header holds the Patient, Clinical Trial Subject, General Study and
	// Patient Study module elements (and SpecificCharacterSet) of one source
	// image, copied unchanged into every result (see HeaderElements).
	Header []*dicom.Element
	// PositionReferenceIndicator is copied into the Frame of Reference module.
	PositionReferenceIndicator string
}

// ErrSource wraps every problem with the source series description.
var ErrSource = errors.New("report: source series")

// headerTags are the top-level elements of the modules copied from the
// source: Patient (C.7.1.1), Clinical Trial Subject (C.7.1.3), General Study
// (C.7.2.1), Clinical Trial Study (C.7.2.3), Patient Study (C.7.2.2), and the
// character set they are written in.
var headerTags = []tag.Tag{
	tag.SpecificCharacterSet,
	// General Study
	tag.StudyDate, tag.StudyTime, tag.AccessionNumber, tag.IssuerOfAccessionNumberSequence,
	tag.ReferringPhysicianName, tag.ReferringPhysicianIdentificationSequence,
	tag.StudyDescription, tag.ProcedureCodeSequence, tag.PhysiciansOfRecord,
	tag.PhysiciansOfRecordIdentificationSequence, tag.NameOfPhysiciansReadingStudy,
	tag.PhysiciansReadingStudyIdentificationSequence, tag.ReferencedStudySequence,
	tag.AdmittingDiagnosesDescription, tag.AdmittingDiagnosesCodeSequence,
	tag.StudyInstanceUID, tag.StudyID, tag.RequestingServiceCodeSequence,
	tag.ReasonForPerformedProcedureCodeSequence,
	// Patient
	tag.PatientName, tag.PatientID, tag.IssuerOfPatientID, tag.TypeOfPatientID,
	tag.IssuerOfPatientIDQualifiersSequence, tag.SourcePatientGroupIdentificationSequence,
	tag.GroupOfPatientsIdentificationSequence, tag.PatientBirthDate, tag.PatientBirthTime,
	tag.PatientSex, tag.QualityControlSubject, tag.OtherPatientIDsSequence, tag.OtherPatientNames,
	tag.PatientSpeciesDescription, tag.PatientSpeciesCodeSequence, tag.PatientBreedDescription,
	tag.PatientBreedCodeSequence, tag.BreedRegistrationSequence, tag.ResponsiblePerson,
	tag.ResponsiblePersonRole, tag.ResponsibleOrganization, tag.PatientComments,
	tag.PatientIdentityRemoved, tag.DeidentificationMethod, tag.DeidentificationMethodCodeSequence,
	tag.EthnicGroup, tag.StrainDescription, tag.StrainNomenclature, tag.StrainCodeSequence,
	tag.GeneticModificationsSequence, tag.StrainAdditionalInformation, tag.StrainStockSequence,
	// Patient Study
	tag.AdmittingDiagnosesDescription, tag.PatientAge, tag.PatientSize, tag.PatientWeight,
	tag.PatientSizeCodeSequence, tag.Occupation, tag.AdditionalPatientHistory,
	tag.PatientSexNeutered, tag.SmokingStatus, tag.MedicalAlerts, tag.Allergies,
	tag.PregnancyStatus, tag.LastMenstrualDate, tag.PatientState, tag.AdmissionID,
	tag.IssuerOfAdmissionIDSequence, tag.ServiceEpisodeID, tag.ServiceEpisodeDescription,
	tag.IssuerOfServiceEpisodeIDSequence,
}

// type2Header are the Type 2 elements of those modules: written empty when
// the source lacks them.
var type2Header = []tag.Tag{
	tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientSex,
	tag.StudyDate, tag.StudyTime, tag.ReferringPhysicianName, tag.StudyID, tag.AccessionNumber,
}

// HeaderElements picks the elements copied into every result from one
// source image's dataset: those of headerTags, plus every Clinical Trial
// element (group 0012). A sequence with no items is left out: every sequence
// of these modules is optional (Type 3), where an empty one is an error
// (scanners write them; dciodvfy rejects them).
func HeaderElements(ds dicom.Dataset) []*dicom.Element {
	var out []*dicom.Element
	for _, e := range ds.Elements {
		if items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok && len(items) == 0 {
			continue
		}
		if slices.Contains(headerTags, e.Tag) || (e.Tag.Group == 0x0012 && e.Tag.Element != 0) {
			out = append(out, e)
		}
	}
	return out
}

// headerCopy returns the source header plus empty Type 2 elements for those
// it lacks. StudyInstanceUID always comes from s.
func (s *Source) headerCopy(b *builder) []*dicom.Element {
	var out []*dicom.Element
	have := map[tag.Tag]bool{}
	for _, e := range s.Header {
		if e.Tag == tag.StudyInstanceUID {
			continue
		}
		have[e.Tag] = true
		out = append(out, e)
	}
	for _, t := range type2Header {
		if !have[t] {
			out = append(out, b.s(t))
		}
	}
	return append(out, b.s(tag.StudyInstanceUID, s.StudyInstanceUID))
}

// Grid returns the source grid: column i, row j, slice k, flat index
// (k*Rows+j)*Columns+i.
func (s *Source) Grid() geom.Grid {
	o := s.Orientation
	step := geom.Vec3{}
	n := len(s.Slices)
	if n > 1 {
		step = s.Slices[n-1].Position.Sub(s.Slices[0].Position).Scale(1 / float64(n-1))
	} else {
		rd, cd := geom.Vec3{o[0], o[1], o[2]}, geom.Vec3{o[3], o[4], o[5]}
		step = rd.Cross(cd).Scale(max(s.SliceThickness, 1))
	}
	var origin geom.Vec3
	if n > 0 {
		origin = s.Slices[0].Position
	}
	return geom.Grid{
		Dims:   [3]int{s.Columns, s.Rows, n},
		Affine: geom.FromDICOM(origin, geom.Vec3{o[0], o[1], o[2]}, geom.Vec3{o[3], o[4], o[5]}, s.PixelSpacing, step),
	}
}

// Validate checks that s can carry a SEG.
func (s *Source) Validate() error {
	var errs []string
	if s.StudyInstanceUID == "" || s.SeriesInstanceUID == "" || s.FrameOfReferenceUID == "" {
		errs = append(errs, "study, series and frame of reference UIDs are required")
	}
	if s.Rows <= 0 || s.Columns <= 0 {
		errs = append(errs, fmt.Sprintf("rows %d and columns %d must be positive", s.Rows, s.Columns))
	}
	if s.PixelSpacing[0] <= 0 || s.PixelSpacing[1] <= 0 {
		errs = append(errs, fmt.Sprintf("pixel spacing %v must be positive", s.PixelSpacing))
	}
	rd := geom.Vec3{s.Orientation[0], s.Orientation[1], s.Orientation[2]}
	cd := geom.Vec3{s.Orientation[3], s.Orientation[4], s.Orientation[5]}
	if math.Abs(rd.Norm()-1) > 1e-3 || math.Abs(cd.Norm()-1) > 1e-3 || math.Abs(rd.Dot(cd)) > 1e-3 {
		errs = append(errs, fmt.Sprintf("orientation %v is not two orthogonal unit vectors", s.Orientation))
	}
	if len(s.Slices) == 0 {
		errs = append(errs, "no slices")
	}
	seen := map[string]bool{}
	for i, sl := range s.Slices {
		if sl.SOPClassUID == "" || sl.SOPInstanceUID == "" || sl.Frame < 0 {
			errs = append(errs, fmt.Sprintf("slice %d has no SOP class or instance UID (or a negative frame number)", i))
			break
		}
		key := fmt.Sprintf("%s/%d", sl.SOPInstanceUID, sl.Frame)
		if seen[key] {
			errs = append(errs, fmt.Sprintf("slice %d repeats instance %s frame %d", i, sl.SOPInstanceUID, sl.Frame))
			break
		}
		seen[key] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrSource, strings.Join(errs, "; "))
	}
	return nil
}

// SourceFromDatasets describes a single-frame source series from its parsed
// images (pixel data not needed), sorted along the slice normal. It checks
// only what the results need: one study, series and frame of reference, one
// orientation, one image size. The header is copied from the first image.
func SourceFromDatasets(dss []dicom.Dataset) (*Source, error) {
	if len(dss) == 0 {
		return nil, fmt.Errorf("%w: no images", ErrSource)
	}
	s := &Source{}
	type one struct {
		sl Slice
		d  float64
	}
	var all []one
	for i, ds := range dss {
		get := func(t tag.Tag) string {
			e, err := ds.FindElementByTag(t)
			if err != nil {
				return ""
			}
			v, ok := e.Value.GetValue().([]string)
			if !ok || len(v) == 0 {
				return ""
			}
			return strings.TrimRight(strings.Join(v, `\`), " \x00")
		}
		getInt := func(t tag.Tag) int {
			e, err := ds.FindElementByTag(t)
			if err != nil {
				return 0
			}
			if v, ok := e.Value.GetValue().([]int); ok && len(v) > 0 {
				return v[0]
			}
			return 0
		}
		getF := func(t tag.Tag, n int) ([]float64, error) {
			parts := strings.Split(get(t), `\`)
			if len(parts) != n {
				return nil, fmt.Errorf("%w: image %d: %s has %d values (expected %d)", ErrSource, i, tag.DebugString(t), len(parts), n)
			}
			out := make([]float64, n)
			for j, p := range parts {
				v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
				if err != nil {
					return nil, fmt.Errorf("%w: image %d: %s value %q is not a number", ErrSource, i, tag.DebugString(t), p)
				}
				out[j] = v
			}
			return out, nil
		}
		pos, err := getF(tag.ImagePositionPatient, 3)
		if err != nil {
			return nil, err
		}
		ori, err := getF(tag.ImageOrientationPatient, 6)
		if err != nil {
			return nil, err
		}
		ps, err := getF(tag.PixelSpacing, 2)
		if err != nil {
			return nil, err
		}
		cur := Source{
			StudyInstanceUID: get(tag.StudyInstanceUID), SeriesInstanceUID: get(tag.SeriesInstanceUID),
			FrameOfReferenceUID: get(tag.FrameOfReferenceUID), Rows: getInt(tag.Rows), Columns: getInt(tag.Columns),
			Orientation: [6]float64(ori), PixelSpacing: [2]float64(ps),
		}
		if i == 0 {
			*s = cur
			s.Header = HeaderElements(ds)
			s.PositionReferenceIndicator = get(tag.PositionReferenceIndicator)
			if th, err := getF(tag.SliceThickness, 1); err == nil {
				s.SliceThickness = th[0]
			}
		} else if cur.StudyInstanceUID != s.StudyInstanceUID || cur.SeriesInstanceUID != s.SeriesInstanceUID ||
			cur.FrameOfReferenceUID != s.FrameOfReferenceUID || cur.Rows != s.Rows || cur.Columns != s.Columns ||
			cur.PixelSpacing != s.PixelSpacing || !sameOrientation(cur.Orientation, s.Orientation) {
			return nil, fmt.Errorf("%w: image %d differs from image 0 in study, series, frame of reference, size, spacing or orientation (expected one series of parallel slices)", ErrSource, i)
		}
		n := geom.Vec3{ori[0], ori[1], ori[2]}.Cross(geom.Vec3{ori[3], ori[4], ori[5]})
		p := geom.Vec3(pos)
		all = append(all, one{Slice{SOPClassUID: get(tag.SOPClassUID), SOPInstanceUID: get(tag.SOPInstanceUID), Position: p}, p.Dot(n)})
	}
	slices.SortStableFunc(all, func(a, b one) int {
		switch {
		case a.d < b.d:
			return -1
		case a.d > b.d:
			return 1
		}
		return 0
	})
	for i, o := range all {
		if i > 0 && math.Abs(o.d-all[i-1].d) < 1e-4 {
			return nil, fmt.Errorf("%w: two images at the same position %v (expected one image per slice)", ErrSource, o.sl.Position)
		}
		s.Slices = append(s.Slices, o.sl)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func sameOrientation(a, b [6]float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-4 {
			return false
		}
	}
	return true
}
