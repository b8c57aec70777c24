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

	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
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
	// Backgrounds, when set, draws every case from these real brains of
	// the shared data folder Shared (NewMultiGenerator, VersionMulti), each
	// in its split of DefaultBrainSplits; ["all"] means every brain.
	Backgrounds []string
	Shared      string
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
	// Background and SplitBy (VersionMulti only): the real brain the case
	// is drawn from, and "brain": the split is the brain's, so train, val
	// and test never share one.
	Background string `json:"background,omitempty"`
	SplitBy    string `json:"split_by,omitempty"`
}

// TruthOf returns the lesion list record of a case.
func TruthOf(c *Case) Truth {
	t := Truth{Case: c.ID, Split: c.Split, Seed: c.Seed, Generator: c.Version, Dims: c.Grid.Dims,
		Spacing: c.Grid.Spacing()[0], Lesions: c.Lesions, Params: c.Params}
	if c.Params.Background != "" {
		t.Background, t.SplitBy = c.Params.Background, "brain"
	}
	return t
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
	var g interface {
		Generate(seed uint64, split Split) (*Case, error)
	}
	version := Version
	if len(o.Backgrounds) > 0 {
		names := o.Backgrounds
		if len(names) == 1 && names[0] == "all" {
			names = nil
		}
		m, err := NewMultiGenerator(o.Shared, names, nil, o.Config)
		if err != nil {
			return err
		}
		g, version = m, VersionMulti
	} else {
		cg, err := NewGenerator(o.AnatomyDir, o.Config)
		if err != nil {
			return err
		}
		g = cg
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
		fmt.Fprintf(progress, "\n%d cases of split %s (seeds %d..%d, %s) in %.1f s\n", o.Count, o.Split, o.FirstSeed, o.FirstSeed+uint64(o.Count-1), version, time.Since(start).Seconds())
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
	if err := nifti.Write(filepath.Join(dir, "labels.nii.gz"), LabelImage(c.Grid, c.Labels)); err != nil {
		return err
	}
	if format == "nifti" || format == "both" {
		desc := c.ID + " " + c.Version
		if err := nifti.Write(filepath.Join(dir, "black.nii.gz"), &nifti.Image{Grid: c.Grid, Data: c.Black, Datatype: nifti.DTFloat32, Description: desc + " black-blood"}); err != nil {
			return err
		}
		if err := nifti.Write(filepath.Join(dir, "bright.nii.gz"), &nifti.Image{Grid: c.Grid, Data: c.Bright, Datatype: nifti.DTFloat32, Description: desc + " bright-blood"}); err != nil {
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

// LabelImage wraps a label volume for firmware/nifti (stored as int16: lesion
// IDs never exceed MaxLesions).
func LabelImage(g geom.Grid, labels []uint16) *nifti.Image {
	data := make([]float32, len(labels))
	for i, v := range labels {
		data[i] = float32(v)
	}
	return &nifti.Image{Grid: g, Data: data, Datatype: nifti.DTInt16, Description: "lesion labels"}
}
