package volume

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"metsentry/firmware/geom"
)

// Assemble reads the instances of one series and builds its 3D volume: slices
// sorted along the normal of ImageOrientationPatient by ImagePositionPatient,
// spacing taken from the positions (not SliceThickness), rescale applied, and
// the full LPS affine kept. A series that is not one regular 3D stack is
// refused with a *RefusedError saying why; other errors are I/O faults.
func Assemble(files []string, opts Options) (*Volume, error) {
	o := opts.withDefaults()
	if len(files) == 0 {
		return nil, refuse(ReasonTooFewSlices, "no images were given; a 3D volume needs at least %d slices", o.MinSlices)
	}
	insts := make([]*instance, len(files))
	errs := make([]error, len(files))
	parallelFor(len(files), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			insts[i], errs[i] = readInstance(files[i])
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return assemble(insts, o)
}

func assemble(insts []*instance, o Options) (*Volume, error) {
	first := insts[0]
	for _, in := range insts {
		if in.geomErr != nil {
			return nil, in.geomErr
		}
	}
	for _, in := range insts[1:] {
		if in.seriesUID != first.seriesUID {
			return nil, refuse(ReasonMixedSeries, "the images belong to more than one series; assemble one series at a time")
		}
		if in.forUID != first.forUID {
			return nil, refuse(ReasonMixedSeries, "the images of one series name different frames of reference")
		}
	}
	var frames []*frameInfo
	for _, in := range insts {
		frames = append(frames, selectFrames(in)...)
	}

	// One orientation and one in-plane geometry for all slices.
	f0 := frames[0]
	for _, f := range frames[1:] {
		if f.row.Sub(f0.row).Norm() > 1e-4 || f.col.Sub(f0.col).Norm() > 1e-4 {
			return nil, refuse(ReasonMixedOrientation, "the slices have different orientations (ImageOrientationPatient %s and %s); one series must be one stack of parallel slices", fmtOri(f0), fmtOri(f))
		}
		if f.rows != f0.rows || f.cols != f0.cols {
			return nil, refuse(ReasonMixedSize, "the slices have different sizes (%dx%d and %dx%d); one stack needs one image size", f0.cols, f0.rows, f.cols, f.rows)
		}
		if math.Abs(f.spacing[0]-f0.spacing[0]) > 1e-4*f0.spacing[0] || math.Abs(f.spacing[1]-f0.spacing[1]) > 1e-4*f0.spacing[1] {
			return nil, refuse(ReasonMixedSize, "the slices have different pixel spacings (%g×%g and %g×%g mm)", f0.spacing[0], f0.spacing[1], f.spacing[0], f.spacing[1])
		}
	}
	row, col := f0.row, f0.col
	if math.Abs(row.Norm()-1) > 1e-3 || math.Abs(col.Norm()-1) > 1e-3 || math.Abs(row.Dot(col)) > 1e-3 {
		return nil, refuse(ReasonNonOrthogonal, "the row and column directions %s are not orthogonal unit vectors (cosine %.4f)", fmtOri(f0), row.Dot(col))
	}
	row, col = row.Scale(1/row.Norm()), col.Scale(1/col.Norm())
	normal := row.Cross(col)

	// Sort along the normal.
	sort.SliceStable(frames, func(a, b int) bool { return frames[a].pos.Dot(normal) < frames[b].pos.Dot(normal) })
	n := len(frames)
	d := make([]float64, n)
	for i, f := range frames {
		d[i] = f.pos.Dot(normal)
	}
	for i := 1; i < n; i++ {
		if d[i]-d[i-1] < 1e-3 {
			dup := 0
			for j := 1; j < n; j++ {
				if d[j]-d[j-1] < 1e-3 {
					dup++
				}
			}
			return nil, refuse(ReasonNotAVolume, "%d of %d slices repeat a position already taken (e.g. %s); the series holds repeated images, echoes or time points, not one 3D volume", dup, n, fmtPos(frames[i].pos))
		}
	}
	if n < o.MinSlices {
		return nil, refuse(ReasonTooFewSlices, "the series has %d slices; a 3D volume needs at least %d", n, o.MinSlices)
	}
	steps := make([]float64, n-1)
	for i := range steps {
		steps[i] = d[i+1] - d[i]
	}
	med := median(steps)
	tol := math.Max(o.SpacingTolerance*med, 0.01)
	for i, s := range steps {
		if math.Abs(s-med) <= tol {
			continue
		}
		if r := s / med; r > 1.5 && math.Abs(r-math.Round(r)) <= o.SpacingTolerance {
			return nil, refuse(ReasonMissingSlices, "%d slice(s) missing between positions %s and %s (%.3g mm apart where the series steps %.3g mm); resend the complete series", int(math.Round(r))-1, fmtPos(frames[i].pos), fmtPos(frames[i+1].pos), s, med)
		}
		return nil, refuse(ReasonIrregularSpacing, "irregular slice spacing: %.3g mm between slices %d and %d where the series steps %.3g mm (tolerance %.2g mm)", s, i+1, i+2, med, tol)
	}

	// The stack must run along the normal: a tilted gantry or sheared stack
	// gives a parallelepiped that a plain affine from the slice geometry
	// would misplace.
	span := frames[n-1].pos.Sub(frames[0].pos)
	cos := math.Min(1, span.Dot(normal)/span.Norm())
	if ang := math.Acos(cos) * 180 / math.Pi; ang > o.TiltToleranceDeg {
		return nil, refuse(ReasonGantryTilt, "the slices are stacked %.1f° away from their normal (gantry tilt or a sheared stack, tolerance %.1f°); acquire without tilt or resample on the scanner", ang, o.TiltToleranceDeg)
	}
	step := span.Scale(1 / float64(n-1))
	for k, f := range frames {
		want := frames[0].pos.Add(step.Scale(float64(k)))
		if dev := f.pos.Sub(want).Norm(); dev > tol {
			return nil, refuse(ReasonIrregularSpacing, "slice %d lies %.3g mm from where a regular stack puts it (tolerance %.2g mm)", k+1, dev, tol)
		}
	}

	spacing := span.Norm() / float64(n-1)
	if th := f0.thickness; !o.AllowGaps && th > 0 && spacing > th*(1+o.SpacingTolerance)+0.01 {
		return nil, refuse(ReasonGaps, "slices %.3g mm thick are %.3g mm apart (gaps of %.3g mm); a 3D volume needs contiguous slices", th, spacing, spacing-th)
	}

	g := geom.Grid{
		Dims:   [3]int{f0.cols, f0.rows, n},
		Affine: geom.FromDICOM(frames[0].pos, row, col, f0.spacing, step),
	}
	v := &Volume{Grid: g, Data: make([]float32, g.Len())}
	plane := f0.cols * f0.rows
	parallelFor(n, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			decodeFrame(v.Data[k*plane:(k+1)*plane], frames[k])
		}
	})
	src := &Source{
		StudyInstanceUID:    first.studyUID,
		SeriesInstanceUID:   first.seriesUID,
		FrameOfReferenceUID: first.forUID,
		SOPClassUID:         first.sopClass,
		Modality:            first.modality,
		TransferSyntaxUID:   first.ts,
		Rows:                f0.rows,
		Cols:                f0.cols,
		SliceThickness:      f0.thickness,
		Multiframe:          first.multiframe,
		Slices:              make([]SourceSlice, n),
	}
	for k, f := range frames {
		src.Slices[k] = SourceSlice{SOPInstanceUID: f.sopUID, Frame: f.frame, Position: f.pos}
	}
	v.Source = src
	return v, nil
}

// selectFrames returns the frames of one instance that form one volume. A
// multi-frame instance may hold several volumes (time points, echoes,
// label/control pairs) told apart by its dimension index values: the frames
// that share the first frame's values on every dimension other than the
// in-stack position make up the first volume.
func selectFrames(in *instance) []*frameInfo {
	out := make([]*frameInfo, 0, len(in.frames))
	ref := in.frames[0].dimIdx
	for i := range in.frames {
		f := &in.frames[i]
		if in.multiframe && in.stackDim >= 0 && len(ref) > in.stackDim && !sameExcept(f.dimIdx, ref, in.stackDim) {
			continue
		}
		out = append(out, f)
	}
	return out
}

func sameExcept(a, b []int, skip int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if i != skip && a[i] != b[i] {
			return false
		}
	}
	return true
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func fmtPos(p geom.Vec3) string { return fmt.Sprintf("(%.2f, %.2f, %.2f)", p[0], p[1], p[2]) }

func fmtOri(f *frameInfo) string {
	return fmt.Sprintf("[%.4g %.4g %.4g %.4g %.4g %.4g]", f.row[0], f.row[1], f.row[2], f.col[0], f.col[1], f.col[2])
}
