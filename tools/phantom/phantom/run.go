package phantom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"metsentry/tools/phantom/nifti"
)

// RunOptions is what the phantom command asks for.
type RunOptions struct {
	AnatomyDir string
	Split      Split
	FirstSeed  uint64
	Count      int
	OutDir     string
	Format     string // dicom, nifti or both
	Preview    string
	Quiet      bool
	Config     Config
}

// Truth is the lesion list file (truth.json) of one case.
type Truth struct {
	Case      string   `json:"case"`
	Split     Split    `json:"split"`
	Seed      uint64   `json:"seed"`
	Generator string   `json:"generator"`
	Dims      [3]int   `json:"dims"`
	Spacing   float64  `json:"spacing_mm"`
	Lesions   []Lesion `json:"lesions"`
	Params    Params   `json:"params"`
}

// TruthOf returns the lesion list record of a case.
func TruthOf(c *Case) Truth {
	return Truth{Case: c.ID, Split: c.Split, Seed: c.Seed, Generator: c.Version, Dims: c.Grid.Dims,
		Spacing: c.Grid.Spacing()[0], Lesions: c.Lesions, Params: c.Params}
}

// Run generates opts.Count cases and writes them, with a progress bar on
// progress (nil for none).
func Run(ctx context.Context, o RunOptions, progress io.Writer) error {
	switch o.Format {
	case "dicom", "nifti", "both":
	default:
		return fmt.Errorf("phantom: format %q (want dicom, nifti or both)", o.Format)
	}
	if o.OutDir == "" && o.Preview == "" {
		return fmt.Errorf("phantom: nothing to do: give -out, -preview or both")
	}
	if o.Count < 1 {
		return fmt.Errorf("phantom: -n %d (want at least 1)", o.Count)
	}
	g, err := NewGenerator(o.AnatomyDir, o.Config)
	if err != nil {
		return err
	}
	if o.Quiet {
		progress = nil
	}
	start := time.Now()
	for n := 0; n < o.Count; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("phantom: stopped after %d cases: %w", n, err)
		}
		seed := o.FirstSeed + uint64(n)
		c, err := g.Generate(seed, o.Split)
		if err != nil {
			return err
		}
		if o.Preview != "" && n == 0 {
			if err := writePreview(o.Preview, c); err != nil {
				return err
			}
		}
		if o.OutDir != "" {
			if err := WriteCase(filepath.Join(o.OutDir, c.ID), c, o.Format); err != nil {
				return err
			}
		}
		if progress != nil {
			bar(progress, n+1, o.Count, time.Since(start))
		}
	}
	if progress != nil {
		fmt.Fprintf(progress, "\n%d cases of split %s (seeds %d..%d, %s) in %.1f s\n", o.Count, o.Split, o.FirstSeed, o.FirstSeed+uint64(o.Count-1), Version, time.Since(start).Seconds())
	}
	return nil
}

func bar(w io.Writer, done, total int, el time.Duration) {
	const width = 30
	f := float64(done) / float64(total)
	eta := time.Duration(float64(el) / f * (1 - f)).Round(time.Second)
	fmt.Fprintf(w, "\r[%s%s] %d/%d  %.1fs/case  eta %s ", strings.Repeat("#", int(f*width)), strings.Repeat(".", width-int(f*width)),
		done, total, el.Seconds()/float64(done), eta)
}

func writePreview(path string, c *Case) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("phantom: preview: %w", err)
	}
	if err := Preview(f, c); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteCase writes one case into dir: truth.json and labels.nii.gz always;
// with format dicom or both a DICOM study under dir/dicom; with nifti or both
// black.nii.gz and bright.nii.gz.
func WriteCase(dir string, c *Case, format string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	h := NiftiHeader(c)
	if err := nifti.WriteUint16(filepath.Join(dir, "labels.nii.gz"), h, c.Labels); err != nil {
		return err
	}
	if format == "nifti" || format == "both" {
		if err := nifti.WriteFloat32(filepath.Join(dir, "black.nii.gz"), h, c.Black); err != nil {
			return err
		}
		if err := nifti.WriteFloat32(filepath.Join(dir, "bright.nii.gz"), h, c.Bright); err != nil {
			return err
		}
	}
	if format == "dicom" || format == "both" {
		if err := WriteDICOM(filepath.Join(dir, "dicom"), c); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(TruthOf(c), "", "  ")
	if err != nil {
		return fmt.Errorf("phantom: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "truth.json"), append(b, '\n'), 0o644)
}

// NiftiHeader gives the NIfTI header of a case's grid (LPS -> RAS).
func NiftiHeader(c *Case) nifti.Header {
	h := nifti.Header{Dims: c.Grid.Dims}
	sp := c.Grid.Spacing()
	h.Spacing = [3]float64{sp[0], sp[1], sp[2]}
	for r := 0; r < 3; r++ {
		s := 1.0
		if r < 2 {
			s = -1
		}
		for col := 0; col < 4; col++ {
			h.Affine[r][col] = s * c.Grid.Affine[r][col]
		}
	}
	h.Affine[3][3] = 1
	return h
}
