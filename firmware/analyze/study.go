package analyze

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/geom"
	"metsentry/firmware/report"
	"metsentry/firmware/volume"
)

// Roles of a job's selected series (firmware/intake's RoleBlack, RoleBright
// and RoleT1; repeated here so analyze does not import intake).
const (
	roleBlack  = "black"
	roleBright = "bright"
	roleT1     = "t1"
)

// Study is one ready job's input: its volumes and the source series the
// results are written against.
type Study struct {
	StudyInstanceUID string
	Mode             Mode
	// Black is nil for a bright-only study.
	Black, Bright *volume.Volume
	// Source is the bright series as the SEG, SR and SC reference it, with
	// the patient and study elements they copy.
	Source *report.Source
}

// Load reads a ready job's selected series from the store and assembles
// them: a black and a bright role make a VISIBLE study; a bright (or t1)
// role alone makes a bright-only one. A series the job selected by
// instances (one series holding both VISIBLE image sets) contributes only
// those instances to each role.
func Load(store *cache.Store, job cache.Job) (*Study, error) {
	files := map[string][]string{}
	err := store.View(func(tx *cache.Tx) error {
		for _, sel := range job.Series {
			insts, err := tx.SeriesInstances(job.StudyInstanceUID, sel.SeriesInstanceUID)
			if err != nil {
				return err
			}
			role := sel.Role
			if role == roleT1 {
				role = roleBright
			}
			if _, dup := files[role]; dup {
				return fmt.Errorf("analyze: job %d selects two series as %s (expected one per role)", job.ID, role)
			}
			var paths []string
			for _, in := range insts {
				if len(sel.Instances) > 0 && !slices.Contains(sel.Instances, in.SOPInstanceUID) {
					continue
				}
				paths = append(paths, store.Path(in.Path))
			}
			if len(paths) == 0 {
				return fmt.Errorf("analyze: job %d: series %d (%s) has no instances in the cache", job.ID, sel.SeriesNumber, sel.Role)
			}
			files[role] = paths
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files[roleBright]) == 0 {
		return nil, fmt.Errorf("analyze: job %d selects no bright-blood or T1 series (rule %q; expected one)", job.ID, job.Rule)
	}
	st := &Study{StudyInstanceUID: job.StudyInstanceUID, Mode: BrightOnly}
	if st.Bright, err = volume.Assemble(files[roleBright], volume.Options{}); err != nil {
		return nil, fmt.Errorf("analyze: bright-blood series: %w", err)
	}
	if bf := files[roleBlack]; len(bf) > 0 {
		if st.Black, err = volume.Assemble(bf, volume.Options{}); err != nil {
			return nil, fmt.Errorf("analyze: black-blood series: %w", err)
		}
		st.Mode = Visible
	}
	if st.Source, err = SourceOf(st.Bright, files[roleBright][0]); err != nil {
		return nil, err
	}
	return st, nil
}

// SourceOf describes an assembled volume as the results' source series: its
// grid and slices from the volume (so the label mask lies on it voxel for
// voxel, multi-frame instances included), the header elements the results
// copy from one of its files (pixel data not read).
func SourceOf(v *volume.Volume, file string) (*report.Source, error) {
	if v.Source == nil {
		return nil, fmt.Errorf("analyze: volume has no DICOM source (expected one assembled from a series)")
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	ds, err := parseHeader(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("analyze: read the header of %s: %w", file, err)
	}
	vs := v.Source
	a := v.Grid.Affine
	row, col := a.Column(0), a.Column(1)
	rs, cs := row.Norm(), col.Norm()
	if rs == 0 || cs == 0 {
		return nil, fmt.Errorf("analyze: the volume's affine %v has a zero in-plane step", a)
	}
	rd, cd := row.Scale(1/rs), col.Scale(1/cs)
	s := &report.Source{
		StudyInstanceUID: vs.StudyInstanceUID, SeriesInstanceUID: vs.SeriesInstanceUID, FrameOfReferenceUID: vs.FrameOfReferenceUID,
		Rows: vs.Rows, Columns: vs.Cols, Orientation: [6]float64{rd[0], rd[1], rd[2], cd[0], cd[1], cd[2]},
		PixelSpacing: [2]float64{cs, rs}, SliceThickness: vs.SliceThickness,
		Header: report.HeaderElements(ds), PositionReferenceIndicator: stringOf(ds, tag.PositionReferenceIndicator),
	}
	for k, sl := range vs.Slices {
		// The grid's own slice position, so the SEG's frames sit exactly
		// where the mask's slices are.
		p := a.Apply(geom.Vec3{0, 0, float64(k)})
		s.Slices = append(s.Slices, report.Slice{SOPClassUID: vs.SOPClassUID, SOPInstanceUID: sl.SOPInstanceUID, Frame: sl.Frame, Position: p})
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	return s, nil
}

func stringOf(ds dicom.Dataset, t tag.Tag) string {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return ""
	}
	v, ok := e.Value.GetValue().([]string)
	if !ok {
		return ""
	}
	return strings.TrimRight(strings.Join(v, `\`), " \x00")
}

// parseHeader parses a file's header. The DICOM library indexes values it
// has not checked (an empty group length, a value of the wrong type): a
// damaged file must fail its job, never the daemon.
func parseHeader(r io.Reader, size int64) (ds dicom.Dataset, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged DICOM file (the parser failed: %v)", p)
		}
	}()
	return dicom.Parse(r, size, nil, dicom.SkipPixelData())
}
