package report

import (
	"fmt"
	"time"

	"metsentry/firmware/detect"
)

// Equipment is the appliance as it names itself in the Enhanced General
// Equipment module and the SR's device observer context.
type Equipment struct {
	Manufacturer    string
	ModelName       string
	SerialNumber    string
	SoftwareVersion string
	// DeviceUID identifies this appliance (Device Observer UID); stable per box.
	DeviceUID string
	// InstitutionName is optional.
	InstitutionName string
}

// Algorithm is the model that found the lesions.
type Algorithm struct {
	Name    string // model name from the manifest
	Version string // model version from the manifest
}

// Input is everything one analysis's results are made from.
type Input struct {
	Source *Source
	// Lesions are numbered 1..n (detect.Find's order); Number is the SEG
	// segment number and the SR tracking identifier.
	Lesions []detect.Lesion
	// Labels is the lesion mask on the source grid: per voxel the lesion
	// Number, 0 for none, flat index (k*Rows+row)*Columns+col.
	Labels []uint16
	// Image holds the source intensities on the same grid (for the
	// secondary-capture images; not needed for SEG and SR).
	Image     []float32
	Equipment Equipment
	Algorithm Algorithm
	// Time is when the results are created (injected, for reproducible tests).
	Time time.Time
	// SeriesNumber is the first of the three new series' numbers (SEG, then
	// SR, then SC count up from it).
	SeriesNumber int
	// Mode, when set, is a sentence saying which images the analysis read
	// (VISIBLE pair or bright-only); the SR carries it under its qualitative
	// evaluations.
	Mode string
}

// IDs are the UIDs shared between the objects of one analysis, so the SR
// can point at the SEG's segments and the tracking UIDs agree.
type IDs struct {
	SEGSeries, SEGInstance string
	SRSeries, SRInstance   string
	SCSeries               string
	// SCInstances, when set, are the SOP Instance UIDs of the SC images in
	// the order SCImages returns them (derived UIDs, so a resend replaces
	// the earlier images); fresh UIDs are made for any not given.
	SCInstances []string
	// Tracking holds one Tracking UID per lesion, in lesion order.
	Tracking []string
}

// NewIDs makes fresh UIDs for an analysis with n lesions.
func NewIDs(n int) IDs {
	ids := IDs{SEGSeries: NewUID(), SEGInstance: NewUID(), SRSeries: NewUID(), SRInstance: NewUID(), SCSeries: NewUID()}
	for range n {
		ids.Tracking = append(ids.Tracking, NewUID())
	}
	return ids
}

func (in *Input) check(ids IDs) error {
	if in.Source == nil {
		return fmt.Errorf("%w: missing", ErrSource)
	}
	if err := in.Source.Validate(); err != nil {
		return err
	}
	if n := in.Source.Grid().Len(); len(in.Labels) != n {
		return fmt.Errorf("report: label mask has %d voxels, the source grid %d (expected the mask on the source grid)", len(in.Labels), n)
	}
	for i, l := range in.Lesions {
		if l.Number != i+1 {
			return fmt.Errorf("report: lesion %d is numbered %d (expected lesions numbered 1..n in order)", i, l.Number)
		}
	}
	for _, v := range in.Labels {
		if int(v) > len(in.Lesions) {
			return fmt.Errorf("report: label mask holds label %d but there are %d lesions", v, len(in.Lesions))
		}
	}
	if len(ids.Tracking) != len(in.Lesions) {
		return fmt.Errorf("report: %d tracking UIDs for %d lesions", len(ids.Tracking), len(in.Lesions))
	}
	e := in.Equipment
	if e.Manufacturer == "" || e.ModelName == "" || e.SerialNumber == "" || e.SoftwareVersion == "" || e.DeviceUID == "" {
		return fmt.Errorf("report: equipment needs manufacturer, model name, serial number, software version and device UID")
	}
	if in.Algorithm.Name == "" || in.Algorithm.Version == "" {
		return fmt.Errorf("report: algorithm needs a name and a version")
	}
	if in.Time.IsZero() {
		return fmt.Errorf("report: creation time is not set")
	}
	return nil
}
