package detect

import (
	"fmt"
	"math"

	"metsentry/firmware/geom"
)

// Labels returns a label volume on the model grid: each voxel holds the
// number of the lesion it belongs to, 0 for none.
func Labels(lesions []Lesion, g geom.Grid) ([]uint16, error) {
	out := make([]uint16, g.Len())
	for _, l := range lesions {
		if l.Number < 1 || l.Number > math.MaxUint16 {
			return nil, fmt.Errorf("detect: lesion number %d is out of range (1 to 65535)", l.Number)
		}
		for _, idx := range l.Voxels {
			if idx < 0 || idx >= len(out) {
				return nil, fmt.Errorf("%w: lesion %d voxel %d is outside the %v grid", ErrGrid, l.Number, idx, g.Dims)
			}
			out[idx] = uint16(l.Number)
		}
	}
	return out, nil
}

// Resampler maps a label volume from the model grid onto the source grid.
// The volume package provides one that inverts exactly how it built the model
// grid from the source; NearestResampler is the default.
type Resampler func(labels []uint16, model, source geom.Grid) ([]uint16, error)

// NearestResampler gives each source voxel the label of the model voxel whose
// centre is nearest to its centre (through the two affines), 0 outside the
// model grid.
func NearestResampler(labels []uint16, model, source geom.Grid) ([]uint16, error) {
	if len(labels) != model.Len() {
		return nil, fmt.Errorf("%w: %d labels for a %v model grid", ErrGrid, len(labels), model.Dims)
	}
	inv, err := model.Affine.Inverse()
	if err != nil {
		return nil, fmt.Errorf("detect: model grid: %w", err)
	}
	// source voxel -> model voxel index, as an affine.
	m := inv.Mul(source.Affine)
	out := make([]uint16, source.Len())
	nx, ny, nz := source.Dims[0], source.Dims[1], source.Dims[2]
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				q := m.Apply(geom.Vec3{float64(i), float64(j), float64(k)})
				mi, mj, mk := int(math.Round(q[0])), int(math.Round(q[1])), int(math.Round(q[2]))
				if model.Contains(mi, mj, mk) {
					out[source.Index(i, j, k)] = labels[model.Index(mi, mj, mk)]
				}
			}
		}
	}
	return out, nil
}

// SourceLabels returns the lesions' label volume on the source grid, mapped
// with resample (NearestResampler when nil).
func SourceLabels(lesions []Lesion, model, source geom.Grid, resample Resampler) ([]uint16, error) {
	if resample == nil {
		resample = NearestResampler
	}
	lab, err := Labels(lesions, model)
	if err != nil {
		return nil, err
	}
	out, err := resample(lab, model, source)
	if err != nil {
		return nil, err
	}
	if len(out) != source.Len() {
		return nil, fmt.Errorf("%w: resampler returned %d labels for a %v source grid", ErrGrid, len(out), source.Dims)
	}
	return out, nil
}

// MaskResampler adapts a mapping of binary masks from the model grid to the
// source grid (such as volume.ModelInput.ToSource, bound to its model input)
// into a Resampler: each label is mapped on its own; where two lesions claim
// the same source voxel, the lower number (the larger lesion) keeps it.
func MaskResampler(toSource func(modelMask []uint8) ([]uint8, error)) Resampler {
	return func(labels []uint16, model, source geom.Grid) ([]uint16, error) {
		if len(labels) != model.Len() {
			return nil, fmt.Errorf("%w: %d labels for a %v model grid", ErrGrid, len(labels), model.Dims)
		}
		var top uint16
		for _, v := range labels {
			top = max(top, v)
		}
		out := make([]uint16, source.Len())
		mask := make([]uint8, len(labels))
		for n := uint16(1); n <= top; n++ {
			for i, v := range labels {
				mask[i] = 0
				if v == n {
					mask[i] = 1
				}
			}
			m, err := toSource(mask)
			if err != nil {
				return nil, fmt.Errorf("detect: mapping lesion %d to the source grid: %w", n, err)
			}
			if len(m) != len(out) {
				return nil, fmt.Errorf("%w: mask mapper returned %d values for a %v source grid", ErrGrid, len(m), source.Dims)
			}
			for i, v := range m {
				if v != 0 && out[i] == 0 {
					out[i] = n
				}
			}
		}
		return out, nil
	}
}
