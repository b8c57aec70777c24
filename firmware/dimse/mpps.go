package dimse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/dcmguard"
)

// ModalityPerformedProcedureStepSOPClass is the MPPS SOP class (PS3.4
// Annex F.7): the console says with N-CREATE that an acquisition started
// and with N-SET that it is COMPLETED (or DISCONTINUED), listing the series
// and instances it made.
const ModalityPerformedProcedureStepSOPClass = "1.2.840.10008.3.1.2.3.3"

// Command fields of the DIMSE-N services this package serves (PS3.7 §E.1).
const (
	NSetRQ     uint16 = 0x0120
	NSetRSP    uint16 = 0x8120
	NCreateRQ  uint16 = 0x0140
	NCreateRSP uint16 = 0x8140
)

// DIMSE-N statuses (PS3.7 Annex C).
const (
	StatusProcessingFailure  uint16 = 0x0110
	StatusNoSuchSOPInstance  uint16 = 0x0112
	StatusDuplicateInstance  uint16 = 0x0111
	StatusInvalidObjectValue uint16 = 0x0116
)

// Performed procedure step statuses (0040,0252).
const (
	StepInProgress   = "IN PROGRESS"
	StepCompleted    = "COMPLETED"
	StepDiscontinued = "DISCONTINUED"
)

// maxStepBytes bounds an MPPS data set; a real one lists a few hundred
// instances in some tens of kilobytes.
const maxStepBytes = 4 << 20

// PerformedStep is what one MPPS N-CREATE or N-SET said. An N-SET carries
// only what changed: empty fields leave the step's earlier values.
type PerformedStep struct {
	// SOPInstanceUID names the step (the N-CREATE's Affected SOP Instance
	// UID, or the one this SCP gave it; the N-SET's Requested one).
	SOPInstanceUID string
	// Status is IN PROGRESS, COMPLETED or DISCONTINUED; "" when not sent.
	Status string
	// StudyInstanceUIDs are the studies of its Scheduled Step Attributes
	// Sequence (0040,0270).
	StudyInstanceUIDs []string
	// Series is its Performed Series Sequence (0040,0340); nil when not
	// sent.
	Series []PerformedSeries
}

// PerformedSeries is one item of the Performed Series Sequence: a series
// and the SOP instances the modality says it made in it (its Referenced
// Image and Referenced Non-Image Composite SOP Instance Sequences).
type PerformedSeries struct {
	SeriesInstanceUID string
	Instances         []string
}

// Steps receives the MPPS requests the SCP serves. Server.Steps nil means
// the SCP refuses the MPPS SOP class.
type Steps interface {
	// Create records a step the modality started (N-CREATE).
	Create(ctx context.Context, remote netip.AddrPort, step PerformedStep) error
	// Set records a change to a step created before (N-SET); an error
	// wrapping ErrNoSuchStep answers 0112 (no such SOP instance).
	Set(ctx context.Context, remote netip.AddrPort, step PerformedStep) error
}

// ErrNoSuchStep is returned by a Steps.Set that knows no step of that UID.
var ErrNoSuchStep = errors.New("dimse: no such performed procedure step")

// step serves one N-CREATE or N-SET: it reads the data set (bounded), checks
// it with dcmguard, parses the step and hands it to Server.Steps. It returns
// the response; an error means the association is broken.
func (a *scpAssoc) step(pcid byte, ts string, cmd *Command) (*Command, error) {
	rsp := &Command{CommandField: cmd.CommandField | 0x8000, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: ModalityPerformedProcedureStepSOPClass, CommandDataSetType: NoDataSet}
	uid := cmd.AffectedSOPInstanceUID
	if cmd.CommandField == NSetRQ {
		uid = cmd.RequestedSOPInstanceUID
	}
	if cmd.CommandField == NCreateRQ && uid == "" {
		uid = newUID() // PS3.4 F.7.2.1.1: the SCP may assign it
	}
	rsp.AffectedSOPInstanceUID = uid
	var buf bytes.Buffer
	if cmd.HasDataSet() {
		if _, err := a.c.readData(pcid, &buf, maxStepBytes); errors.Is(err, errTooLarge) {
			rsp.Status, rsp.ErrorComment = StatusProcessingFailure, errorComment(fmt.Sprintf("MPPS data set larger than %d bytes", maxStepBytes))
			return rsp, nil
		} else if err != nil {
			return nil, err
		}
	}
	switch {
	case cmd.RequestedSOPClassUID != "" && cmd.RequestedSOPClassUID != ModalityPerformedProcedureStepSOPClass,
		cmd.AffectedSOPClassUID != "" && cmd.AffectedSOPClassUID != ModalityPerformedProcedureStepSOPClass:
		rsp.Status, rsp.ErrorComment = StatusSOPClassNotSupported, "only MPPS is served with DIMSE-N"
		return rsp, nil
	case uid == "" || !dcmguard.ValidUID(uid):
		rsp.Status, rsp.ErrorComment = StatusInvalidObjectValue, errorComment("the step's SOP Instance UID is missing or invalid")
		return rsp, nil
	}
	st, err := ParseStep(buf.Bytes(), ts)
	if err != nil {
		a.log.Warn("dimse: MPPS data set refused", "err", err)
		rsp.Status, rsp.ErrorComment = StatusProcessingFailure, errorComment(err.Error())
		return rsp, nil
	}
	st.SOPInstanceUID = uid
	do, what := a.s.Steps.Create, "N-CREATE"
	if cmd.CommandField == NSetRQ {
		do, what = a.s.Steps.Set, "N-SET"
	}
	if err := do(context.Background(), a.remote, st); err != nil {
		rsp.Status, rsp.ErrorComment = StatusProcessingFailure, errorComment(err.Error())
		if errors.Is(err, ErrNoSuchStep) {
			rsp.Status = StatusNoSuchSOPInstance
		}
		a.log.Warn("dimse: MPPS "+what+" refused", "step", HashUID(uid), "err", err)
		return rsp, nil
	}
	n := 0
	for _, s := range st.Series {
		n += len(s.Instances)
	}
	a.log.Info("dimse: MPPS "+what, "step", HashUID(uid), "status", st.Status, "series", len(st.Series), "instances", n)
	rsp.Status = StatusSuccess
	return rsp, nil
}

// ParseStep reads an MPPS data set (without file meta, in transfer syntax
// ts) after checking it with dcmguard's bounded walk.
func ParseStep(data []byte, ts string) (st PerformedStep, err error) {
	// The DICOM library indexes values it has not checked: whatever the
	// guard lets through, a peer's message must never stop the process.
	defer func() {
		if p := recover(); p != nil {
			st, err = PerformedStep{}, fmt.Errorf("dimse: MPPS data set: the parser failed: %v", p)
		}
	}()
	if len(data) == 0 {
		return st, nil // an N-SET may change nothing we read
	}
	part10 := AppendFileMeta(nil, FileMeta{SOPClassUID: ModalityPerformedProcedureStepSOPClass, SOPInstanceUID: "1.2", TransferSyntaxUID: ts})
	part10 = append(part10, data...)
	if _, err := dcmguard.Walk(bytes.NewReader(part10), int64(len(part10)), dcmguard.Options{}); err != nil {
		return st, fmt.Errorf("dimse: MPPS data set: %w", err)
	}
	ds, err := dicom.Parse(bytes.NewReader(part10), int64(len(part10)), nil, dicom.SkipPixelData())
	if err != nil {
		return st, fmt.Errorf("dimse: MPPS data set: %w", err)
	}
	for _, e := range ds.Elements {
		switch e.Tag {
		case tag.PerformedProcedureStepStatus:
			st.Status = firstString(e)
		case tag.ScheduledStepAttributesSequence:
			for _, it := range items(e) {
				if uid := stringIn(it, tag.StudyInstanceUID); uid != "" {
					st.StudyInstanceUIDs = append(st.StudyInstanceUIDs, uid)
				}
			}
		case tag.PerformedSeriesSequence:
			st.Series = []PerformedSeries{}
			for _, it := range items(e) {
				ps := PerformedSeries{SeriesInstanceUID: stringIn(it, tag.SeriesInstanceUID)}
				for _, x := range it {
					if x.Tag != tag.ReferencedImageSequence && x.Tag != tag.ReferencedNonImageCompositeSOPInstanceSequence {
						continue
					}
					for _, ref := range items(x) {
						if uid := stringIn(ref, tag.ReferencedSOPInstanceUID); uid != "" {
							ps.Instances = append(ps.Instances, uid)
						}
					}
				}
				st.Series = append(st.Series, ps)
			}
		}
	}
	return st, nil
}

func items(e *dicom.Element) [][]*dicom.Element {
	seq, _ := e.Value.GetValue().([]*dicom.SequenceItemValue)
	out := make([][]*dicom.Element, 0, len(seq))
	for _, it := range seq {
		if el, ok := it.GetValue().([]*dicom.Element); ok {
			out = append(out, el)
		}
	}
	return out
}

func stringIn(elems []*dicom.Element, t tag.Tag) string {
	for _, e := range elems {
		if e.Tag == t {
			return firstString(e)
		}
	}
	return ""
}

func firstString(e *dicom.Element) string {
	v, ok := e.Value.GetValue().([]string)
	if !ok || len(v) == 0 {
		return ""
	}
	return strings.TrimRight(v[0], " \x00")
}

// newUID returns a fresh UID under the UUID-derived 2.25 root.
func newUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ""
	}
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// NCreate sends an MPPS N-CREATE for the step named uid with the data set
// ds (elements only; no file meta) and returns the step's UID as the SCP
// answered it.
func (a *Assoc) NCreate(ctx context.Context, uid string, ds dicom.Dataset) (string, error) {
	return a.nRequest(ctx, NCreateRQ, uid, ds)
}

// NSet sends an MPPS N-SET of the step named uid with the changed elements
// in ds (no file meta).
func (a *Assoc) NSet(ctx context.Context, uid string, ds dicom.Dataset) error {
	_, err := a.nRequest(ctx, NSetRQ, uid, ds)
	return err
}

func (a *Assoc) nRequest(ctx context.Context, field uint16, uid string, ds dicom.Dataset) (string, error) {
	var pcid byte
	var ts string
	for _, c := range a.accepted {
		if c.abstract == ModalityPerformedProcedureStepSOPClass {
			pcid, ts = c.id, c.ts
			break
		}
	}
	if pcid == 0 {
		return "", fmt.Errorf("%w for the MPPS SOP class", ErrNoContext)
	}
	data, err := encodeDataSet(ds, ts)
	if err != nil {
		return "", err
	}
	cmd := &Command{CommandField: field, CommandDataSetType: DataSetPresent}
	if field == NCreateRQ {
		cmd.AffectedSOPClassUID, cmd.AffectedSOPInstanceUID = ModalityPerformedProcedureStepSOPClass, uid
	} else {
		cmd.RequestedSOPClassUID, cmd.RequestedSOPInstanceUID = ModalityPerformedProcedureStepSOPClass, uid
	}
	rsp, err := a.request(ctx, pcid, cmd, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	if rsp.AffectedSOPInstanceUID != "" {
		uid = rsp.AffectedSOPInstanceUID
	}
	return uid, nil
}

// encodeDataSet writes ds in transfer syntax ts and returns the data set's
// bytes without preamble and file meta.
func encodeDataSet(ds dicom.Dataset, ts string) ([]byte, error) {
	var full dicom.Dataset
	for _, m := range [][2]string{{"class", ModalityPerformedProcedureStepSOPClass}, {"instance", "1.2"}, {"ts", ts}} {
		t := map[string]tag.Tag{"class": tag.MediaStorageSOPClassUID, "instance": tag.MediaStorageSOPInstanceUID, "ts": tag.TransferSyntaxUID}[m[0]]
		e, err := dicom.NewElement(t, []string{m[1]})
		if err != nil {
			return nil, fmt.Errorf("dimse: %w", err)
		}
		full.Elements = append(full.Elements, e)
	}
	full.Elements = append(full.Elements, ds.Elements...)
	var buf bytes.Buffer
	if err := dicom.Write(&buf, full, dicom.SkipVRVerification(), dicom.SkipValueTypeVerification()); err != nil {
		return nil, fmt.Errorf("dimse: encoding the data set: %w", err)
	}
	m, err := ReadFileMeta(bufio.NewReader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		return nil, fmt.Errorf("dimse: encoding the data set: %w", err)
	}
	return buf.Bytes()[m.DataSetOffset:], nil
}

// DataSet encodes the step as the attributes an MPPS SCU sends: its status,
// its studies as Scheduled Step Attributes items, and its series with their
// instances (as MR images) in the Performed Series Sequence. Empty fields
// are left out, as an N-SET leaves out what did not change.
func (st PerformedStep) DataSet() (dicom.Dataset, error) {
	var ds dicom.Dataset
	add := func(t tag.Tag, v any) error {
		e, err := dicom.NewElement(t, v)
		if err != nil {
			return fmt.Errorf("dimse: MPPS %v: %w", t, err)
		}
		ds.Elements = append(ds.Elements, e)
		return nil
	}
	el := func(t tag.Tag, v any) *dicom.Element {
		e, err := dicom.NewElement(t, v)
		if err != nil {
			return nil
		}
		return e
	}
	if len(st.StudyInstanceUIDs) > 0 {
		var its [][]*dicom.Element
		for _, u := range st.StudyInstanceUIDs {
			its = append(its, []*dicom.Element{el(tag.StudyInstanceUID, []string{u})})
		}
		if err := add(tag.ScheduledStepAttributesSequence, its); err != nil {
			return ds, err
		}
	}
	if st.Status != "" {
		if err := add(tag.PerformedProcedureStepStatus, []string{st.Status}); err != nil {
			return ds, err
		}
	}
	if st.Series != nil {
		its := [][]*dicom.Element{}
		for _, s := range st.Series {
			refs := [][]*dicom.Element{}
			for _, u := range s.Instances {
				refs = append(refs, []*dicom.Element{el(tag.ReferencedSOPClassUID, []string{MRImageStorage}), el(tag.ReferencedSOPInstanceUID, []string{u})})
			}
			its = append(its, []*dicom.Element{el(tag.ReferencedImageSequence, refs), el(tag.SeriesInstanceUID, []string{s.SeriesInstanceUID})})
		}
		if err := add(tag.PerformedSeriesSequence, its); err != nil {
			return ds, err
		}
	}
	return ds, nil
}

// MPPSContext proposes the MPPS SOP class for NCreate and NSet.
func MPPSContext() Context {
	return Context{AbstractSyntax: ModalityPerformedProcedureStepSOPClass, TransferSyntaxes: []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian}}
}
