package realcheck

import (
	"context"
	"fmt"
	"math"
	"metsentry/firmware/analyze"
	"time"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

// Options say which model runs and how.
type Options struct {
	// Manifest is the verified model's manifest; its output section gives
	// the operating point (threshold, smallest component).
	Manifest *manifest.Manifest
	// ManifestPath is reported as given.
	ManifestPath string
	// Engine runs the network (runtime/model.Model in the command).
	Engine infer.Engine
	// Plan says whether the volume passes whole or in tiles.
	Plan infer.Plan
	// Ref are the reference-region thresholds (DefaultRefParams when zero).
	Ref RefParams
	// Levels, for RunNegatives: other levels of each study's operating map
	// (the stage's accept level, or the network's threshold) at which to
	// count the false positives too, so that one run shows which operating
	// points meet the real-negatives target.
	Levels []float64
}

// Lesion classes, from most to least specific.
const (
	ClassTumour       = "tumour"                       // overlaps the enhancing reference region
	ClassTumourRegion = "tumour region, not enhancing" // overlaps the closed FLAIR whole-tumour region only
	ClassBright       = "bright non-tumour structure"
	ClassEdge         = "brain edge"
	ClassOther        = "other"
)

// Finding is one detected lesion with what lies under it.
type Finding struct {
	Number            int       `json:"number"`
	Voxels            int       `json:"voxels"`
	VolumeMM3         float64   `json:"volume_mm3"`
	LongestDiameterMM float64   `json:"longest_diameter_mm"`
	MaxProb           float64   `json:"max_prob"`
	MeanProb          float64   `json:"mean_prob"`
	CentreLPS         geom.Vec3 `json:"centre_lps_mm"`
	Location          string    `json:"location"`
	// ReferenceVoxels and TumourRegionVoxels count the lesion's voxels in
	// the enhancing reference region and in the closed whole-tumour region.
	ReferenceVoxels    int `json:"reference_voxels"`
	TumourRegionVoxels int `json:"tumour_region_voxels"`
	// BrightFraction: the share of its voxels that are bright on t1c
	// (z ≥ BrightZ); EnhancingFraction: that enhance (t1c − t1n ≥
	// EnhanceZ); EdgeFraction: within EdgeMM of the brain's edge;
	// OutsideFraction: outside the brain mask (skull-stripped background).
	BrightFraction    float64 `json:"bright_fraction"`
	EnhancingFraction float64 `json:"enhancing_fraction"`
	EdgeFraction      float64 `json:"edge_fraction"`
	OutsideFraction   float64 `json:"outside_fraction"`
	// OnBrightStructure: not tumour, and at least a third of its voxels
	// are bright on t1c.
	OnBrightStructure bool   `json:"on_bright_structure"`
	Class             string `json:"class"`
}

// ProbStats is the model's probability over a region (sampled onto the
// study grid, trilinear).
type ProbStats struct {
	Max            float64 `json:"max"`
	Mean           float64 `json:"mean"`
	AboveOperating float64 `json:"fraction_at_or_above_threshold"`
}

// Result is what the check measured.
type Result struct {
	Case        string      `json:"case"`
	StudyDims   [3]int      `json:"study_dims"`
	StudyAffine geom.Affine `json:"study_affine_lps"`
	Model       ModelInfo   `json:"model"`
	ModelDims   [3]int      `json:"model_grid_dims"`
	BlackZeroed bool        `json:"black_channel_zeroed"`
	Provider    string      `json:"provider"`
	Seconds     float64     `json:"inference_seconds"`

	RefParams      RefParams `json:"reference_params"`
	Reference      Region    `json:"reference_region"`
	WholeTumour    Region    `json:"whole_tumour_flair_region"`
	TumourEnvelope Region    `json:"tumour_envelope_region"`
	// ReferenceLocation is firmware/detect's location in words of the
	// reference region's centre.
	ReferenceLocation string `json:"reference_location"`
	// BrightBrainFraction is the share of brain voxels at z(t1c) ≥ BrightZ.
	BrightBrainFraction float64 `json:"bright_brain_fraction"`

	ProbReference ProbStats `json:"prob_in_reference"`
	ProbEnvelope  ProbStats `json:"prob_in_tumour_envelope"`
	ProbBrain     ProbStats `json:"prob_in_brain"`
	// MaxProbAnywhere is the largest probability on the model grid.
	MaxProbAnywhere float64 `json:"max_prob_anywhere"`

	Flagged       bool      `json:"flagged"`
	TumourFound   bool      `json:"tumour_found"`
	TumourLesions []int     `json:"tumour_lesions"`
	Findings      []Finding `json:"lesions"`

	// Ref, Prob (model grid), ModelGrid and Lesions are kept for the
	// images WriteReport writes; not in the JSON.
	Ref       *Reference      `json:"-"`
	Prob      []float32       `json:"-"`
	ModelGrid geom.Grid       `json:"-"`
	Lesions   []detect.Lesion `json:"-"`
}

// ModelInfo identifies the model and its operating point.
type ModelInfo struct {
	Manifest        string  `json:"manifest"`
	Name            string  `json:"name"`
	Version         string  `json:"version"`
	Precision       string  `json:"precision"`
	Threshold       float64 `json:"threshold"`
	MinComponentMM3 float64 `json:"min_component_mm3"`
	// StageAccept is the accept level of the manifest's bright-only second
	// stage (output.rescore_bright_only), which then finds the lesions on
	// its score map instead of Threshold on the probabilities; 0 without one.
	StageAccept float64 `json:"bright_only_stage_accept,omitempty"`
}

// Check runs the model on s.T1c as a bright-only study and measures the
// result against the reference region.
func Check(ctx context.Context, s *Study, o Options) (*Result, error) {
	if o.Manifest == nil || o.Engine == nil {
		return nil, fmt.Errorf("realcheck: a manifest and an engine are needed")
	}
	if o.Ref == (RefParams{}) {
		o.Ref = DefaultRefParams
	}
	m := o.Manifest
	ref, err := FindReference(s, o.Ref)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Case: s.Name, StudyDims: s.Grid().Dims, StudyAffine: s.Grid().Affine,
		Model: ModelInfo{Manifest: o.ManifestPath, Name: m.Name, Version: m.Version, Precision: m.Precision,
			Threshold: m.Output.Threshold, MinComponentMM3: m.Output.MinComponentMM3},
		RefParams: o.Ref, Ref: ref,
		Reference:      Summarise(ref.Enhancing, ref.Grid),
		WholeTumour:    Summarise(ref.Whole, ref.Grid),
		TumourEnvelope: Summarise(ref.Envelope, ref.Grid),
	}
	bright, brain := 0, 0
	for i, b := range ref.Brain {
		if b != 0 {
			brain++
			if float64(ref.ZT1c[i]) >= o.Ref.BrightZ {
				bright++
			}
		}
	}
	res.BrightBrainFraction = float64(bright) / float64(max(brain, 1))

	// The appliance's path: Prepare (black channel zeroed), the network,
	// firmware/detect at the manifest's operating point.
	t0 := time.Now()
	mi, prob, err := (&analyze.Model{Manifest: m, Engine: o.Engine, Plan: o.Plan}).Network(ctx, nil, s.T1c)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	res.Seconds = time.Since(t0).Seconds()
	res.Provider = o.Engine.Provider()
	res.ModelDims, res.BlackZeroed, res.ModelGrid = mi.Grid.Dims, mi.BlackZeroed, mi.Grid
	g := mi.Grid.Dims
	res.Prob = prob
	for _, p := range res.Prob {
		res.MaxProbAnywhere = max(res.MaxProbAnywhere, float64(p))
	}
	dref, ok := detect.ReferenceFromImage(s.T1c.Data, s.Grid())
	if !ok {
		dref = detect.GridReference(s.Grid())
	}
	if res.Reference.Voxels > 0 {
		res.ReferenceLocation = detect.Locate(res.Reference.CentreLPS, dref).String()
	}
	// A bright-only study: the manifest's bright-only stage, or without one
	// the network at its own threshold.
	opMap, op, err := detect.BrainMap(res.Prob, nil, mi.Channel(manifest.ChannelBright), mi.BrainMask, g, m.Output, false)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	if m.Output.RescoreBrightOnly != nil {
		res.Model.StageAccept = op.Threshold
	}
	lesions, err := detect.Find(opMap, mi.Grid, op, dref)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	res.Lesions = lesions
	res.Flagged = len(lesions) > 0

	toSrc, err := voxelMap(mi.Grid, s.Grid())
	if err != nil {
		return nil, err
	}
	for _, l := range lesions {
		f := classify(l, mi.Grid, ref, toSrc, s.Grid())
		if f.Class == ClassTumour {
			res.TumourFound = true
			res.TumourLesions = append(res.TumourLesions, f.Number)
		}
		res.Findings = append(res.Findings, f)
	}

	toModel, err := voxelMap(s.Grid(), mi.Grid)
	if err != nil {
		return nil, err
	}
	thr := m.Output.Threshold
	res.ProbReference = probStats(ref.Enhancing, res.Prob, mi.Grid, toModel, s.Grid(), thr)
	res.ProbEnvelope = probStats(ref.Envelope, res.Prob, mi.Grid, toModel, s.Grid(), thr)
	res.ProbBrain = probStats(ref.Brain, res.Prob, mi.Grid, toModel, s.Grid(), thr)
	return res, nil
}

// voxelMap returns the affine taking a voxel of from to a voxel of to.
func voxelMap(from, to geom.Grid) (geom.Affine, error) {
	inv, err := to.Affine.Inverse()
	if err != nil {
		return geom.Affine{}, fmt.Errorf("realcheck: grid %v: %w", to.Dims, err)
	}
	return inv.Mul(from.Affine), nil
}

// classify measures what lies under lesion l (on the model grid) on the
// study grid, voxel centre by voxel centre (nearest study voxel).
func classify(l detect.Lesion, model geom.Grid, ref *Reference, toSrc geom.Affine, src geom.Grid) Finding {
	f := Finding{
		Number: l.Number, Voxels: len(l.Voxels), VolumeMM3: l.VolumeMM3,
		LongestDiameterMM: l.LongestDiameterMM, MaxProb: l.MaxProb, MeanProb: l.MeanProb,
		CentreLPS: l.CentreLPS, Location: l.Location.String(),
	}
	var bright, enh, edge, outside int
	for _, idx := range l.Voxels {
		si, in := nearest(idx, model, toSrc, src)
		if !in || ref.Brain[si] == 0 {
			outside++
			continue
		}
		if ref.Enhancing[si] != 0 {
			f.ReferenceVoxels++
		}
		if ref.Envelope[si] != 0 {
			f.TumourRegionVoxels++
		}
		if float64(ref.ZT1c[si]) >= ref.Params.BrightZ {
			bright++
		}
		if float64(ref.Enhancement[si]) >= ref.Params.EnhanceZ {
			enh++
		}
		if ref.Edge[si] != 0 {
			edge++
		}
	}
	nv := float64(max(len(l.Voxels), 1))
	f.BrightFraction, f.EnhancingFraction = float64(bright)/nv, float64(enh)/nv
	f.EdgeFraction, f.OutsideFraction = float64(edge)/nv, float64(outside)/nv
	switch {
	case f.ReferenceVoxels > 0:
		f.Class = ClassTumour
	case f.TumourRegionVoxels > 0:
		f.Class = ClassTumourRegion
	case f.BrightFraction >= 1.0/3:
		f.Class = ClassBright
		f.OnBrightStructure = true
	case f.EdgeFraction+f.OutsideFraction >= 0.5:
		f.Class = ClassEdge
	default:
		f.Class = ClassOther
	}
	return f
}

// nearest maps flat index idx of model to the flat index of the nearest
// voxel of src; false when it falls outside src.
func nearest(idx int, model geom.Grid, toSrc geom.Affine, src geom.Grid) (int, bool) {
	nx, ny := model.Dims[0], model.Dims[1]
	p := toSrc.Apply(geom.Vec3{float64(idx % nx), float64((idx / nx) % ny), float64(idx / (nx * ny))})
	i, j, k := int(math.Round(p[0])), int(math.Round(p[1])), int(math.Round(p[2]))
	if !src.Contains(i, j, k) {
		return 0, false
	}
	return src.Index(i, j, k), true
}

// probStats samples prob (on model) at the study voxels set in mask.
func probStats(mask []uint8, prob []float32, model geom.Grid, toModel geom.Affine, src geom.Grid, thr float64) ProbStats {
	var st ProbStats
	var sum float64
	n, above := 0, 0
	nx, ny := src.Dims[0], src.Dims[1]
	for idx, m := range mask {
		if m == 0 {
			continue
		}
		p := trilinear(prob, model.Dims, toModel.Apply(geom.Vec3{float64(idx % nx), float64((idx / nx) % ny), float64(idx / (nx * ny))}))
		st.Max = max(st.Max, p)
		sum += p
		n++
		if p >= thr {
			above++
		}
	}
	if n > 0 {
		st.Mean = sum / float64(n)
		st.AboveOperating = float64(above) / float64(n)
	}
	return st
}

// trilinear samples v (dims, x fastest) at fractional voxel p; 0 outside.
func trilinear(v []float32, dims [3]int, p geom.Vec3) float64 {
	x0, y0, z0 := math.Floor(p[0]), math.Floor(p[1]), math.Floor(p[2])
	x, y, z := int(x0), int(y0), int(z0)
	mx, my, mz := dims[0], dims[1], dims[2]
	if x < 0 || y < 0 || z < 0 || x >= mx || y >= my || z >= mz {
		return 0
	}
	x1, y1, z1 := min(x+1, mx-1), min(y+1, my-1), min(z+1, mz-1)
	fx, fy, fz := p[0]-x0, p[1]-y0, p[2]-z0
	at := func(i, j, k int) float64 { return float64(v[i+mx*(j+my*k)]) }
	c00 := at(x, y, z)*(1-fx) + at(x1, y, z)*fx
	c10 := at(x, y1, z)*(1-fx) + at(x1, y1, z)*fx
	c01 := at(x, y, z1)*(1-fx) + at(x1, y, z1)*fx
	c11 := at(x, y1, z1)*(1-fx) + at(x1, y1, z1)*fx
	return (c00*(1-fy)+c10*fy)*(1-fz) + (c01*(1-fy)+c11*fy)*fz
}
