package report

import (
	"fmt"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/detect"
)

// Concept names of TID 1500 and the templates it includes (PS3.16).
var (
	cnReport          = code{"126000", "DCM", "Imaging Measurement Report"}
	cnLanguage        = code{"121049", "DCM", "Language of Content Item and Descendants"}
	cvEnglish         = code{"en-US", "RFC5646", "English (United States)"}
	cnObserverType    = code{"121005", "DCM", "Observer Type"}
	cvDevice          = code{"121007", "DCM", "Device"}
	cnDeviceUID       = code{"121012", "DCM", "Device Observer UID"}
	cnDeviceName      = code{"121013", "DCM", "Device Observer Name"}
	cnDeviceMaker     = code{"121014", "DCM", "Device Observer Manufacturer"}
	cnDeviceModel     = code{"121015", "DCM", "Device Observer Model Name"}
	cnDeviceSerial    = code{"121016", "DCM", "Device Observer Serial Number"}
	cnProcedure       = code{"121058", "DCM", "Procedure reported"}
	cvMRProcedure     = code{"25056-3", "LN", "MRI unspecified body region"}
	cnImageLibrary    = code{"111028", "DCM", "Image Library"}
	cnImageLibGroup   = code{"126200", "DCM", "Image Library Group"}
	cnMeasurements    = code{"126010", "DCM", "Imaging Measurements"}
	cnQualitative     = code{"C0034375", "UMLS", "Qualitative Evaluations"}
	cnGroup           = code{"125007", "DCM", "Measurement Group"}
	cnTrackingID      = code{"112039", "DCM", "Tracking Identifier"}
	cnTrackingUID     = code{"112040", "DCM", "Tracking Unique Identifier"}
	cnFinding         = code{"121071", "DCM", "Finding"}
	cnFindingSite     = code{"363698007", "SCT", "Finding Site"}
	cnLaterality      = code{"272741003", "SCT", "Laterality"}
	cvLeft            = code{"7771000", "SCT", "Left"}
	cvRight           = code{"24028007", "SCT", "Right"}
	cnRefSegment      = code{"121191", "DCM", "Referenced Segment"}
	cnSourceSeries    = code{"121232", "DCM", "Source series for segmentation"}
	cnVolume          = code{"118565006", "SCT", "Volume"}
	cnLongAxis        = code{"103339001", "SCT", "Long Axis"}
	cnAlgorithmName   = code{"111001", "DCM", "Algorithm Name"}
	cnAlgorithmVer    = code{"111003", "DCM", "Algorithm Version"}
	cvAbsent          = code{"2667000", "SCT", "Absent"}
	cnComment         = code{"121106", "DCM", "Comment"}
	unitMM            = code{"mm", "UCUM", "millimeter"}
	unitMM3           = code{"mm3", "UCUM", "cubic millimeter"}
	relContains       = "CONTAINS"
	relConceptMod     = "HAS CONCEPT MOD"
	relObsContext     = "HAS OBS CONTEXT"
	srSeriesDescShort = "metsentry findings report"
)

// node is one SR content item and its children.
type node struct {
	rel, vt  string
	name     *code
	text     string
	value    *code
	uid      string
	num      float64
	unit     code
	refClass string
	refInst  string
	refSeg   int
	kids     []*node
}

func container(rel string, name code, kids ...*node) *node {
	return &node{rel: rel, vt: "CONTAINER", name: &name, kids: kids}
}
func text(rel string, name code, v string) *node {
	return &node{rel: rel, vt: "TEXT", name: &name, text: v}
}
func codeNode(rel string, name, v code, kids ...*node) *node {
	return &node{rel: rel, vt: "CODE", name: &name, value: &v, kids: kids}
}
func uidref(rel string, name code, v string) *node {
	return &node{rel: rel, vt: "UIDREF", name: &name, uid: v}
}
func num(rel string, name code, v float64, unit code, kids ...*node) *node {
	return &node{rel: rel, vt: "NUM", name: &name, num: v, unit: unit, kids: kids}
}

func (b *builder) content(n *node) []*dicom.Element {
	var els []*dicom.Element
	if n.rel != "" {
		els = append(els, b.s(tag.RelationshipType, n.rel))
	}
	els = append(els, b.s(tag.ValueType, n.vt))
	if n.name != nil {
		els = append(els, b.codeSeq(tag.ConceptNameCodeSequence, *n.name))
	}
	switch n.vt {
	case "CONTAINER":
		els = append(els, b.s(tag.ContinuityOfContent, "SEPARATE"))
	case "TEXT":
		els = append(els, b.s(tag.TextValue, n.text))
	case "CODE":
		els = append(els, b.codeSeq(tag.ConceptCodeSequence, *n.value))
	case "UIDREF":
		els = append(els, b.s(tag.UID, n.uid))
	case "NUM":
		els = append(els, b.seq(tag.MeasuredValueSequence, item(
			b.codeSeq(tag.MeasurementUnitsCodeSequence, n.unit),
			b.ds(tag.NumericValue, n.num))))
	case "IMAGE":
		ref := item(b.s(tag.ReferencedSOPClassUID, n.refClass), b.s(tag.ReferencedSOPInstanceUID, n.refInst))
		if n.refSeg > 0 {
			ref = append(ref, b.ints(tag.ReferencedSegmentNumber, n.refSeg))
		}
		els = append(els, b.seq(tag.ReferencedSOPSequence, ref))
	}
	if len(n.kids) > 0 {
		var items [][]*dicom.Element
		for _, k := range n.kids {
			items = append(items, b.content(k))
		}
		els = append(els, b.seq(tag.ContentSequence, items...))
	}
	return els
}

// SR builds the Comprehensive 3D SR (TID 1500 Imaging Measurement Report):
// language, observer context (the appliance as device observer), procedure
// reported, the source images as the image library, and one measurement
// group per lesion (TID 1411: tracking identifier and UID, finding, finding
// site with laterality, the referenced SEG segment, the source series,
// volume and long axis with the algorithm that measured them). With no
// lesions it holds no measurement groups and says explicitly, under
// Qualitative Evaluations, that metastases are absent. The SEG is referenced
// only when there are lesions (no SEG is written otherwise).
func SR(in *Input, ids IDs) ([]byte, error) {
	if err := in.check(ids); err != nil {
		return nil, err
	}
	s := in.Source
	b := &builder{}
	t := in.Time
	e := in.Equipment
	root := container("", cnReport,
		codeNode(relConceptMod, cnLanguage, cvEnglish),
		codeNode(relObsContext, cnObserverType, cvDevice),
		uidref(relObsContext, cnDeviceUID, e.DeviceUID),
		text(relObsContext, cnDeviceName, e.ModelName),
		text(relObsContext, cnDeviceMaker, e.Manufacturer),
		text(relObsContext, cnDeviceModel, e.ModelName),
		text(relObsContext, cnDeviceSerial, e.SerialNumber),
		codeNode(relConceptMod, cnProcedure, cvMRProcedure),
	)
	group := container(relContains, cnImageLibGroup)
	for _, r := range s.instances() {
		group.kids = append(group.kids, &node{rel: relContains, vt: "IMAGE", refClass: r.class, refInst: r.uid})
	}
	root.kids = append(root.kids, container(relContains, cnImageLibrary, group))
	algo := func() []*node {
		return []*node{text(relConceptMod, cnAlgorithmName, in.Algorithm.Name), text(relConceptMod, cnAlgorithmVer, in.Algorithm.Version)}
	}
	if len(in.Lesions) > 0 {
		meas := container(relContains, cnMeasurements)
		for i, l := range in.Lesions {
			site := codeNode(relConceptMod, cnFindingSite, codeBrain)
			switch l.Location.Hemisphere {
			case detect.Left:
				site.kids = append(site.kids, codeNode(relConceptMod, cnLaterality, cvLeft))
			case detect.Right:
				site.kids = append(site.kids, codeNode(relConceptMod, cnLaterality, cvRight))
			}
			meas.kids = append(meas.kids, container(relContains, cnGroup,
				text(relObsContext, cnTrackingID, trackingID(l)),
				uidref(relObsContext, cnTrackingUID, ids.Tracking[i]),
				codeNode(relContains, cnFinding, codeMetastasis),
				site,
				&node{rel: relContains, vt: "IMAGE", name: &cnRefSegment, refClass: SegmentationStorage, refInst: ids.SEGInstance, refSeg: l.Number},
				uidref(relContains, cnSourceSeries, s.SeriesInstanceUID),
				num(relContains, cnVolume, round(l.VolumeMM3, 1), unitMM3, algo()...),
				num(relContains, cnLongAxis, round(l.LongestDiameterMM, 1), unitMM, algo()...),
			))
		}
		root.kids = append(root.kids, meas)
		if in.Mode != "" {
			root.kids = append(root.kids, container(relContains, cnQualitative, text(relContains, cnComment, in.Mode)))
		}
	} else {
		q := container(relContains, cnQualitative,
			codeNode(relContains, codeMetastasis, cvAbsent),
			text(relContains, cnComment, fmt.Sprintf("Negative study: %s %s found no candidate brain metastasis.", in.Algorithm.Name, in.Algorithm.Version)),
		)
		if in.Mode != "" {
			q.kids = append(q.kids, text(relContains, cnComment, in.Mode))
		}
		root.kids = append(root.kids, q)
	}

	els := b.meta(Comprehensive3DSRStorage, ids.SRInstance)
	els = append(els, s.headerCopy(b)...)
	els = append(els,
		b.s(tag.SOPClassUID, Comprehensive3DSRStorage), b.s(tag.SOPInstanceUID, ids.SRInstance),
		b.s(tag.InstanceCreationDate, dicomDate(t)), b.s(tag.InstanceCreationTime, dicomTime(t)),
		b.s(tag.Modality, "SR"), b.s(tag.SeriesInstanceUID, ids.SRSeries), b.is(tag.SeriesNumber, in.SeriesNumber+1),
		b.s(tag.SeriesDescription, srSeriesDescShort), b.s(tag.SeriesDate, dicomDate(t)), b.s(tag.SeriesTime, dicomTime(t)),
		b.seq(tag.ReferencedPerformedProcedureStepSequence),
		b.is(tag.InstanceNumber, 1), b.s(tag.ContentDate, dicomDate(t)), b.s(tag.ContentTime, dicomTime(t)),
		b.s(tag.CompletionFlag, "COMPLETE"), b.s(tag.VerificationFlag, "UNVERIFIED"),
		b.seq(tag.PerformedProcedureCodeSequence),
		b.seq(tag.ContentTemplateSequence, item(b.s(tag.MappingResource, "DCMR"), b.s(tag.TemplateIdentifier, "1500"))),
		in.evidence(b, ids),
	)
	els = append(els, in.equipment(b)...)
	els = append(els, b.content(root)...)
	return b.encode(els)
}

func trackingID(l detect.Lesion) string {
	return fmt.Sprintf("Lesion %d (%s)", l.Number, l.Location)
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// evidence is the Current Requested Procedure Evidence Sequence: the source
// images and, when there is one, the SEG.
func (in *Input) evidence(b *builder, ids IDs) *dicom.Element {
	s := in.Source
	var refs [][]*dicom.Element
	for _, r := range s.instances() {
		refs = append(refs, item(b.s(tag.ReferencedSOPClassUID, r.class), b.s(tag.ReferencedSOPInstanceUID, r.uid)))
	}
	series := [][]*dicom.Element{item(b.s(tag.SeriesInstanceUID, s.SeriesInstanceUID), b.seq(tag.ReferencedSOPSequence, refs...))}
	if len(in.Lesions) > 0 {
		series = append(series, item(b.s(tag.SeriesInstanceUID, ids.SEGSeries),
			b.seq(tag.ReferencedSOPSequence, item(b.s(tag.ReferencedSOPClassUID, SegmentationStorage), b.s(tag.ReferencedSOPInstanceUID, ids.SEGInstance)))))
	}
	return b.seq(tag.CurrentRequestedProcedureEvidenceSequence, item(
		b.s(tag.StudyInstanceUID, s.StudyInstanceUID),
		b.seq(tag.ReferencedSeriesSequence, series...)))
}
