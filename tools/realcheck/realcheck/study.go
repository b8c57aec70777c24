package realcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
	"metsentry/firmware/volume"
)

// Study is one BraTS case: the post-contrast T1 the appliance examines and
// the two images used only for the reference region, all on one grid in
// patient LPS.
type Study struct {
	// Name is the case's file prefix, e.g. "BraTS-GLI-00001-000".
	Name string
	// T1c is the post-contrast T1: the bright-only study fed to the model.
	T1c *volume.Volume
	// T1n (pre-contrast T1) and T2f (FLAIR) define the reference region.
	T1n, T2f *volume.Volume
}

// Grid is the grid the three images share.
func (s *Study) Grid() geom.Grid { return s.T1c.Grid }

// LoadStudy reads <dir>/<case>-{t1c,t1n,t2f}.nii.gz, the BraTS naming, and
// checks that the three share one grid. Only geometry and voxel values are
// kept from the headers (never the description or other text fields).
func LoadStudy(dir string) (*Study, error) {
	t1c, err := filepath.Glob(filepath.Join(dir, "*-t1c.nii.gz"))
	if err != nil || len(t1c) != 1 {
		return nil, fmt.Errorf("realcheck: %s: expected exactly one *-t1c.nii.gz (BraTS naming), found %d", dir, len(t1c))
	}
	name := strings.TrimSuffix(filepath.Base(t1c[0]), "-t1c.nii.gz")
	s := &Study{Name: name}
	for _, p := range []struct {
		suffix string
		dst    **volume.Volume
	}{{"t1c", &s.T1c}, {"t1n", &s.T1n}, {"t2f", &s.T2f}} {
		path := filepath.Join(dir, name+"-"+p.suffix+".nii.gz")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("realcheck: %s is missing (a BraTS case needs t1c, t1n and t2f): %w", path, err)
		}
		v, err := LoadVolume(path)
		if err != nil {
			return nil, err
		}
		*p.dst = v
	}
	for _, o := range []struct {
		name string
		v    *volume.Volume
	}{{"t1n", s.T1n}, {"t2f", s.T2f}} {
		if !s.T1c.Grid.Near(o.v.Grid, 1e-3) {
			return nil, fmt.Errorf("realcheck: %s: the %s grid %v %v differs from the t1c grid %v %v; the images must be co-registered on one grid", name, o.name, o.v.Grid.Dims, o.v.Grid.Affine, s.T1c.Grid.Dims, s.T1c.Grid.Affine)
		}
	}
	return s, nil
}

// LoadVolume reads one 3D NIfTI file as a volume in patient LPS (firmware/nifti
// turns the file's RAS sform or qform into LPS by negating x and y).
func LoadVolume(path string) (*volume.Volume, error) {
	img, err := nifti.Read(path)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	v, err := volume.FromNIfTI(img)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %s: %w", filepath.Base(path), err)
	}
	if v.Grid.VoxelVolume() <= 0 || len(v.Data) != v.Grid.Len() {
		return nil, fmt.Errorf("realcheck: %s: grid %v with affine %v is empty or singular", filepath.Base(path), v.Grid.Dims, v.Grid.Affine)
	}
	return v, nil
}
