// Command gatecheck measures the brain gate (firmware/volume's brain mask,
// which detect.GateBrain drops findings outside of) against the phantom's
// truth on studies drawn from the real brains: how much of the brain it
// holds, how much that is not brain it takes in (at the skull base, where
// findings on an unseen head fall), and whether a lesion would be gated
// away. No model runs: the gate comes from volume.Prepare alone.
//
//	go run ./tools/gatecheck -split train -n 12 -out /tmp/gate   # report.md
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/models"
	"metsentry/tools/phantom/phantom"
	"metsentry/tools/realcheck/realcheck"
)

// lowShare: gate voxels outside the brain whose centre lies in the lowest
// lowShare of the brain's height are at the skull base, as in realcheck's
// location rule for false positives.
var lowShare = realcheck.DefaultNegParams.SkullBaseFraction

// row is one study's measurement.
type row struct {
	ID, Brain string
	SNR       float64
	Found     bool    // a brain was found (else nothing is gated)
	GateCM3   float64 // the gate's volume
	BrainCM3  float64 // the truth brain's volume
	Covered   float64 // share of the truth brain in the gate
	OutCM3    float64 // gate volume outside the truth brain
	LowCM3    float64 // of which at the skull base (lowShare)
	Lesions   int
	Gated     int // lesions the gate would drop (detect.InBrain's rule: fewer than half their voxels in it)
}

// measure draws nothing: it prepares case c as the appliance would (the
// study written as DICOM and read back, as tools/evaluate does: the gate
// rests on thresholds, and the image the appliance sees is the stored
// integers, not the phantom's floats) and compares the gate with c.Brain.
func measure(c *phantom.Case) (row, error) {
	r := row{ID: c.ID, Brain: c.Params.Background, SNR: c.Params.SNR}
	if len(c.Brain) != c.Grid.Len() {
		return r, fmt.Errorf("gatecheck: case %s has no brain truth (a phantom from before Case.Brain)", c.ID)
	}
	black, bright, err := viaDICOM(c)
	if err != nil {
		return r, err
	}
	if bright.Grid.Dims != c.Grid.Dims || !bright.Grid.Near(c.Grid, 1e-3) {
		return r, fmt.Errorf("gatecheck: case %s: the DICOM series' grid %v is not the phantom's %v", c.ID, bright.Grid.Dims, c.Grid.Dims)
	}
	m := models.Preprocessing()
	mi, err := volume.Prepare(black, bright, &m)
	if err != nil {
		return r, fmt.Errorf("gatecheck: case %s: %w", c.ID, err)
	}
	if mi.BrainMask == nil { // nothing is gated
		all := make([]uint8, c.Grid.Len())
		for i := range all {
			all[i] = 1
		}
		r = score(c, all)
		r.Found = false
		return r, nil
	}
	gate, err := mi.ToSource(mi.BrainMask)
	if err != nil {
		return r, fmt.Errorf("gatecheck: case %s: %w", c.ID, err)
	}
	return score(c, gate), nil
}

// viaDICOM writes c's two series as DICOM in a temporary folder and reads
// them back: the black-blood and the bright-blood volume.
func viaDICOM(c *phantom.Case) (black, bright *volume.Volume, err error) {
	dir, err := os.MkdirTemp("", "gatecheck-")
	if err != nil {
		return nil, nil, fmt.Errorf("gatecheck: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := phantom.WriteDICOM(dir, c); err != nil {
		return nil, nil, fmt.Errorf("gatecheck: case %s: %w", c.ID, err)
	}
	var vols [2]*volume.Volume
	for i, s := range phantom.SeriesOf() {
		files, err := filepath.Glob(filepath.Join(dir, fmt.Sprintf("s%d", s.Number), "*.dcm"))
		if err != nil {
			return nil, nil, fmt.Errorf("gatecheck: %w", err)
		}
		if vols[i], err = volume.Assemble(files, volume.Options{}); err != nil {
			return nil, nil, fmt.Errorf("gatecheck: case %s series %d: %w", c.ID, s.Number, err)
		}
	}
	return vols[0], vols[1], nil
}

// score compares gate (on c's grid) with c.Brain and the lesion labels.
func score(c *phantom.Case, gate []uint8) row {
	r := row{ID: c.ID, Brain: c.Params.Background, SNR: c.Params.SNR, Found: true}
	sp := c.Grid.Spacing()
	cm3 := sp[0] * sp[1] * sp[2] / 1000
	d := c.Grid.Dims
	zOf := func(i int) float64 {
		return c.Grid.Affine.Apply(geom.Vec3{float64(i % d[0]), float64(i / d[0] % d[1]), float64(i / (d[0] * d[1]))})[2]
	}
	zlo, zhi := math.Inf(1), math.Inf(-1)
	for i, b := range c.Brain {
		if b != 0 {
			z := zOf(i)
			zlo, zhi = min(zlo, z), max(zhi, z)
		}
	}
	low := zlo + lowShare*(zhi-zlo)
	var brain, covered, gated, out, outLow int
	lesion := map[uint16][]int{}
	for i, g := range gate {
		gated += int(g)
		switch {
		case c.Brain[i] != 0:
			brain++
			covered += int(g)
		case g != 0:
			out++
			if zOf(i) < low {
				outLow++
			}
		}
		if l := c.Labels[i]; l != 0 {
			lesion[l] = append(lesion[l], i)
		}
	}
	r.GateCM3, r.BrainCM3 = float64(gated)*cm3, float64(brain)*cm3
	r.Covered = float64(covered) / float64(max(brain, 1))
	r.OutCM3, r.LowCM3 = float64(out)*cm3, float64(outLow)*cm3
	r.Lesions = len(lesion)
	for _, vox := range lesion {
		if !detect.InBrain(vox, gate) {
			r.Gated++
		}
	}
	return r
}

// writeReport writes the per-brain summary and the per-study rows.
func writeReport(w io.Writer, split string, seeds string, rows []row) {
	fmt.Fprintf(w, "# Brain gate against the phantom's brain truth\n\n")
	fmt.Fprintf(w, "- data: phantom studies (tools/phantom on real brains), split **%s**, seeds %s; the truth is the background's brain mask carried into each study (phantom.Case.Brain)\n", split, seeds)
	fmt.Fprintf(w, "- gate: volume.Prepare's brain mask (models.Preprocessing), as detect.GateBrain uses it; a lesion is gated away when fewer than half of its voxels lie in it\n")
	fmt.Fprintf(w, "- skull base: gate voxels outside the brain in the lowest %.0f%% of its height\n\n", 100*lowShare)
	var names []string
	by := map[string][]row{}
	for _, r := range rows {
		if _, ok := by[r.Brain]; !ok {
			names = append(names, r.Brain)
		}
		by[r.Brain] = append(by[r.Brain], r)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "| brain | studies | no brain found | brain held: median / lowest | studies under 99% | outside the brain, cm³: mean | at the skull base, cm³: mean / most | lesions gated away |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, n := range names {
		var cov []float64
		var none, under, lesions, gated int
		var out, low, lowMax float64
		for _, r := range by[n] {
			lesions += r.Lesions
			gated += r.Gated
			if !r.Found {
				none++
				continue
			}
			cov = append(cov, r.Covered)
			if r.Covered < 0.99 {
				under++
			}
			out += r.OutCM3
			low += r.LowCM3
			lowMax = max(lowMax, r.LowCM3)
		}
		f := max(len(cov), 1)
		slices.Sort(cov)
		med, lo := math.NaN(), math.NaN()
		if len(cov) > 0 {
			med, lo = cov[len(cov)/2], cov[0]
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f%% / %.1f%% | %d | %.0f | %.0f / %.0f | %d of %d |\n",
			n, len(by[n]), none, 100*med, 100*lo, under, out/float64(f), low/float64(f), lowMax, gated, lesions)
	}
	fmt.Fprintln(w, "\n| study | brain | SNR | gate, cm³ | brain, cm³ | brain held | outside the brain, cm³ | at the skull base, cm³ | lesions | gated away |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		if !r.Found {
			fmt.Fprintf(w, "| %s | %s | %.1f | no brain found: nothing gated | | | | | %d | 0 |\n", r.ID, r.Brain, r.SNR, r.Lesions)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %.0f | %.0f | %.1f%% | %.0f | %.0f | %d | %d |\n",
			r.ID, r.Brain, r.SNR, r.GateCM3, r.BrainCM3, 100*r.Covered, r.OutCM3, r.LowCM3, r.Lesions, r.Gated)
	}
}

func main() {
	split := flag.String("split", "train", "phantom split: train, val or test")
	first := flag.Uint64("seed", 0, "first seed")
	n := flag.Int("n", 12, "number of studies")
	backgrounds := flag.String("backgrounds", "all", "all (every brain of -split) or brain names separated by commas")
	shared := flag.String("shared", "../shared/data", "the shared data folder the brains are read from")
	lesionFree := flag.Bool("lesion-free", false, "draw the studies without lesions (as evaluate -lesion-free)")
	outDir := flag.String("out", ".", "folder for report.md")
	flag.Parse()
	if err := run(*split, *first, *n, *backgrounds, *shared, *lesionFree, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(splitName string, first uint64, n int, backgrounds, shared string, lesionFree bool, outDir string) error {
	split, err := phantom.ParseSplit(splitName)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("gatecheck: -n %d (want at least 1)", n)
	}
	names, err := phantom.BrainsOf(backgrounds, split)
	if err != nil {
		return err
	}
	var cfg phantom.Config
	if lesionFree {
		cfg.LesionFree = 1
	}
	g, err := phantom.NewMultiGenerator(shared, names, nil, cfg)
	if err != nil {
		return err
	}
	var rows []row
	for s := first; s < first+uint64(n); s++ {
		c, err := g.Generate(s, split)
		if err != nil {
			return err
		}
		r, err := measure(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s %s: brain held %.1f%%, %.0f cm³ outside (%.0f at the skull base), %d of %d lesions gated away\n",
			r.ID, r.Brain, 100*r.Covered, r.OutCM3, r.LowCM3, r.Gated, r.Lesions)
		rows = append(rows, r)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("gatecheck: %w", err)
	}
	var b strings.Builder
	seeds := fmt.Sprintf("%d-%d", first, first+uint64(n)-1)
	if lesionFree {
		seeds += ", drawn without lesions"
	}
	writeReport(&b, string(split), seeds, rows)
	return os.WriteFile(filepath.Join(outDir, "report.md"), []byte(b.String()), 0o644)
}
