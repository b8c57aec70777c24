package realcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/nifti"
)

// DataStatement says what the data is; every report carries it.
const DataStatement = "Real patient-derived research data: BraTS 2023 (case %s, glioma, via BrainLesion/tutorials; research and test use only), " +
	"skull-stripped, co-registered, 1 mm. Examined as a bright-only post-contrast 3D T1 (t1c); the model's black-blood channel is zeroed. " +
	"t1n (pre-contrast T1) and t2f (FLAIR) serve only the reference region. No labels are used: the reference region is derived from the images. " +
	"The data carries no patient identifiers; only image geometry is read from the headers."

// WriteReport writes report.md and report.json into dir, with the images to
// look at the result in any NIfTI viewer: prob.nii.gz (the lesion
// probability on the model grid), lesions.nii.gz (lesion numbers on the
// model grid) and reference.nii.gz (on the study grid: 1 closed whole-tumour
// region, 2 enhancing reference region).
func (r *Result) WriteReport(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	js, err := json.MarshalIndent(struct {
		Data string `json:"data"`
		*Result
	}{fmt.Sprintf(DataStatement, r.Case), r}, "", "  ")
	if err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	if r.Ref != nil {
		lab := make([]float32, len(r.Ref.Enhancing))
		for i := range lab {
			switch {
			case r.Ref.Enhancing[i] != 0:
				lab[i] = 2
			case r.Ref.Envelope[i] != 0:
				lab[i] = 1
			}
		}
		if err := nifti.Write(filepath.Join(dir, "reference.nii.gz"), &nifti.Image{Grid: r.Ref.Grid, Data: lab, Datatype: nifti.DTUint8, Description: "realcheck reference region"}); err != nil {
			return fmt.Errorf("realcheck: %w", err)
		}
	}
	if r.Prob != nil {
		if err := nifti.Write(filepath.Join(dir, "prob.nii.gz"), &nifti.Image{Grid: r.ModelGrid, Data: r.Prob, Description: "realcheck lesion probability"}); err != nil {
			return fmt.Errorf("realcheck: %w", err)
		}
		labels, err := detect.Labels(r.Lesions, r.ModelGrid)
		if err != nil {
			return fmt.Errorf("realcheck: %w", err)
		}
		lab := make([]float32, len(labels))
		for i, v := range labels {
			lab[i] = float32(v)
		}
		if err := nifti.Write(filepath.Join(dir, "lesions.nii.gz"), &nifti.Image{Grid: r.ModelGrid, Data: lab, Datatype: nifti.DTInt16, Description: "realcheck lesions"}); err != nil {
			return fmt.Errorf("realcheck: %w", err)
		}
	}
	return nil
}

func vec(v geom.Vec3) string { return fmt.Sprintf("(%.1f, %.1f, %.1f)", v[0], v[1], v[2]) }

func yes(b bool) string {
	if b {
		return "**yes**"
	}
	return "**no**"
}

// Markdown is the report as markdown.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Real-anatomy check: %s\n\n", r.Case)
	w("%s\n\n", fmt.Sprintf(DataStatement, r.Case))
	m := r.Model
	w("Model: %s %s (%s), manifest `%s`. Operating point from the manifest: threshold %.3g, smallest component %.3g mm³. ",
		m.Name, m.Version, m.Precision, m.Manifest, m.Threshold, m.MinComponentMM3)
	if m.StageAccept > 0 {
		w("Lesions are the bright-only second stage's (output.rescore_bright_only) candidates scoring at least %.3g; the probabilities below are the network's, against its threshold. ", m.StageAccept)
	}
	w("Pipeline as in the appliance: firmware/analyze (volume.Prepare, black channel zeroed: %v → runtime/infer.Predict; %s, %.1f s) → firmware/detect.Find on the model grid %v.\n\n",
		r.BlackZeroed, r.Provider, r.Seconds, r.ModelDims)
	w("Study grid %v, voxel → patient LPS mm affine %v.\n\n", r.StudyDims, r.StudyAffine)

	w("## Result\n\n")
	w("- Study flagged (any lesion at the operating point): %s (%d lesion(s))\n", yes(r.Flagged), len(r.Findings))
	w("- Tumour found (a lesion overlapping the enhancing reference region): %s", yes(r.TumourFound))
	if r.TumourFound {
		w(" (lesion(s) %v)", r.TumourLesions)
	}
	w("\n")
	w("- Probability in the enhancing reference region: max %.3f, mean %.3f, %.1f%% of its voxels at or above the threshold\n",
		r.ProbReference.Max, r.ProbReference.Mean, 100*r.ProbReference.AboveOperating)
	w("- Probability in the tumour envelope (closed FLAIR region): max %.3f, mean %.3f, %.1f%% at or above the threshold\n",
		r.ProbEnvelope.Max, r.ProbEnvelope.Mean, 100*r.ProbEnvelope.AboveOperating)
	w("- Probability in the whole brain: max %.3f, mean %.4f, %.2f%% at or above the threshold; max on the whole model grid %.3f\n\n",
		r.ProbBrain.Max, r.ProbBrain.Mean, 100*r.ProbBrain.AboveOperating, r.MaxProbAnywhere)

	w("## Reference region (no labels)\n\n")
	p := r.RefParams
	w("Brain = voxels above 0 in t1c, t1n and t2f. Each image becomes a robust z-score inside the brain ((value − median) / (IQR / 1.349)). ")
	w("Whole-tumour region = largest 26-connected component of z(t2f) ≥ %.3g; envelope = that region closed with a %.3g mm cube (fills the core and rim). ", p.FlairZ, p.CloseMM)
	w("Enhancing reference region = voxels with z(t1c) − z(t1n) ≥ %.3g within %.3g mm of the envelope, the largest group after joining voxels within %.3g mm.\n\n", p.EnhanceZ, p.FlairMarginMM, p.LinkMM)
	w("| region | voxels | volume (cm³) | centre (LPS mm) | extent min → max (LPS mm) |\n| --- | --- | --- | --- | --- |\n")
	for _, x := range []struct {
		name string
		reg  Region
	}{{"enhancing reference", r.Reference}, {"whole tumour (FLAIR)", r.WholeTumour}, {"tumour envelope", r.TumourEnvelope}} {
		w("| %s | %d | %.2f | %s | %s → %s |\n", x.name, x.reg.Voxels, x.reg.VolumeMM3/1000, vec(x.reg.CentreLPS), vec(x.reg.MinLPS), vec(x.reg.MaxLPS))
	}
	w("\nThe enhancing reference region's centre lies in the %s (firmware/detect's location in words).\n\n", r.ReferenceLocation)

	w("## Lesions at the operating point\n\n")
	if len(r.Findings) == 0 {
		w("None.\n\n")
	} else {
		w("Bright = z(t1c) ≥ %.3g (%.1f%% of brain voxels are); enhancing = z(t1c) − z(t1n) ≥ %.3g; edge = within %.3g mm of the brain mask's edge. ", p.BrightZ, 100*r.BrightBrainFraction, p.EnhanceZ, p.EdgeMM)
		w("A lesion that is not tumour lies on a bright non-tumour structure when at least a third of its voxels are bright.\n\n")
		peak := "max prob"
		if m.StageAccept > 0 {
			peak = "stage score"
		}
		w("| # | class | volume (mm³) | diameter (mm) | %s | centre (LPS mm) | location | in reference / envelope (voxels) | bright | enhancing | edge | outside brain |\n", peak)
		w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, f := range r.Findings {
			w("| %d | %s | %.0f | %.1f | %.3f | %s | %s | %d / %d | %.0f%% | %.0f%% | %.0f%% | %.0f%% |\n",
				f.Number, f.Class, f.VolumeMM3, f.LongestDiameterMM, f.MaxProb, vec(f.CentreLPS), f.Location,
				f.ReferenceVoxels, f.TumourRegionVoxels, 100*f.BrightFraction, 100*f.EnhancingFraction, 100*f.EdgeFraction, 100*f.OutsideFraction)
		}
		w("\n")
		counts := map[string]int{}
		vols := map[string]float64{}
		for _, f := range r.Findings {
			counts[f.Class]++
			vols[f.Class] += f.VolumeMM3
		}
		w("By class:")
		for i, c := range []string{ClassTumour, ClassTumourRegion, ClassBright, ClassEdge, ClassOther} {
			if i > 0 {
				w(";")
			}
			w(" %s %d (%.0f mm³)", c, counts[c], vols[c])
		}
		w(".\n\n")
	}
	w("Images in this folder: prob.nii.gz and lesions.nii.gz (model grid), reference.nii.gz (study grid: 1 envelope, 2 enhancing reference).\n")
	return b.String()
}
