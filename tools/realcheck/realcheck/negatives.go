package realcheck

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"metsentry/firmware/detect"
	"metsentry/firmware/geom"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

// NegParams are the rules that place a false positive. The zero value is not
// usable; start from DefaultNegParams.
type NegParams struct {
	// EdgeMM: a voxel lies at the brain's edge when within EdgeMM of a
	// voxel outside the brain mask (cube distance).
	EdgeMM float64
	// TumourMarginMM widens a glioma's mask; a finding touching the widened
	// mask is the tumour's, not a false positive, and is left out.
	TumourMarginMM float64
	// DeepMM: CSF voxels at least this far inside the brain mask are
	// ventricles; ChoroidMM around them is the choroid plexus zone.
	DeepMM, ChoroidMM float64
	// VentricleMM3: only pieces of deep CSF this large are ventricles.
	VentricleMM3 float64
	// BrightZ: bright when the robust z-score of the image in the brain is
	// at least BrightZ; EnhanceZ: enhancing when z(t1c) − z(t1n) is at
	// least EnhanceZ (post-contrast brains with a pre-contrast image).
	BrightZ, EnhanceZ float64
	// SkullBaseFraction: a finding outside the brain whose centre lies in
	// the lowest SkullBaseFraction of the brain mask's height is at the
	// skull base.
	SkullBaseFraction float64
}

// DefaultNegParams are the rules the report uses.
var DefaultNegParams = NegParams{EdgeMM: 3, TumourMarginMM: 3, DeepMM: 15, ChoroidMM: 3, VentricleMM3: 1000, BrightZ: 2, EnhanceZ: 3, SkullBaseFraction: 0.3}

// Where a false positive falls, first match in this order.
const (
	LocSkullBase = "skull base (outside brain, low)"
	LocOutside   = "outside brain (scalp, skull, orbit)"
	LocEdge      = "dura / brain edge"
	LocChoroid   = "choroid plexus zone"
	LocVessel    = "enhancing vessel / sinus"
	LocBright    = "bright, not enhancing"
	LocOther     = "other parenchyma"
)

// Locations lists the location classes in table order.
var Locations = []string{LocVessel, LocChoroid, LocEdge, LocSkullBase, LocOutside, LocBright, LocOther}

// Masks are what the location rules read, on a background's grid.
type Masks struct {
	Levels TissueLevels
	// Brain, Edge (brain voxels within EdgeMM of the outside), Choroid
	// (brain voxels within ChoroidMM of ventricle CSF) and TumourZone (the
	// tumour widened by TumourMarginMM; nil without one).
	Brain, Edge, Choroid, TumourZone []uint8
	// Z is the image's robust z-score in the brain; Enhancement is
	// z(image) − z(pre) for post-contrast brains with a pre-contrast image
	// (nil otherwise).
	Z, Enhancement []float32
	// BrainZ is the lowest and highest LPS z (superior) of the brain mask.
	BrainZ [2]float64
	// BrainMM3 is the brain mask's volume.
	BrainMM3 float64
}

// MakeMasks builds b's masks with p.
func MakeMasks(b *Background, p NegParams) (*Masks, error) {
	g := b.Grid()
	n := g.Len()
	if len(b.Brain) != n || len(b.Image.Data) != n {
		return nil, fmt.Errorf("realcheck: %s: brain mask or image does not fit the %v grid", b.Name, g.Dims)
	}
	m := &Masks{Brain: b.Brain}
	var err error
	if m.Levels, err = FitTissueLevels(b.Image.Data, b.Brain); err != nil {
		return nil, fmt.Errorf("realcheck: %s: %w", b.Name, err)
	}
	z, _, _, ok := robustZ(b.Image.Data, b.Brain)
	if !ok {
		return nil, fmt.Errorf("realcheck: %s: the image is constant in the brain mask", b.Name)
	}
	m.Z = z
	if b.PostContrast && b.Pre != nil {
		zp, _, _, ok := robustZ(b.Pre.Data, b.Brain)
		if !ok {
			return nil, fmt.Errorf("realcheck: %s: the pre-contrast image is constant in the brain mask", b.Name)
		}
		m.Enhancement = make([]float32, n)
		for i := range n {
			m.Enhancement[i] = z[i] - zp[i]
		}
	}
	inner := boxFilter(b.Brain, g.Dims, radiusVoxels(g, p.EdgeMM), false)
	deep := ballErode(b.Brain, g.Dims, radiusVoxels(g, p.DeepMM))
	m.Edge = make([]uint8, n)
	csf := make([]uint8, n)
	cut := float32((m.Levels.CSF + m.Levels.GM) / 2)
	nx, ny := g.Dims[0], g.Dims[1]
	m.BrainZ = [2]float64{1e18, -1e18}
	count := 0
	for i := range n {
		if b.Brain[i] == 0 {
			continue
		}
		count++
		if inner[i] == 0 {
			m.Edge[i] = 1
		}
		if deep[i] != 0 && b.Image.Data[i] < cut {
			csf[i] = 1
		}
		zmm := g.Affine.Apply(geom.Vec3{float64(i % nx), float64((i / nx) % ny), float64(i / (nx * ny))})[2]
		m.BrainZ[0], m.BrainZ[1] = min(m.BrainZ[0], zmm), max(m.BrainZ[1], zmm)
	}
	m.BrainMM3 = float64(count) * g.VoxelVolume()
	// ventricles: the deep CSF in pieces of at least VentricleMM3 (sulcal
	// CSF deep in fissures comes in smaller pieces)
	vent := make([]uint8, n)
	for _, c := range components(csf, g.Dims) {
		if float64(len(c))*g.VoxelVolume() < p.VentricleMM3 {
			break
		}
		for _, i := range c {
			vent[i] = 1
		}
	}
	m.Choroid = boxFilter(vent, g.Dims, radiusVoxels(g, p.ChoroidMM), true)
	for i := range n {
		m.Choroid[i] &= b.Brain[i]
	}
	if b.Tumour != nil {
		m.TumourZone = boxFilter(b.Tumour, g.Dims, radiusVoxels(g, p.TumourMarginMM), true)
	}
	return m, nil
}

// Input kinds of a negatives row.
const (
	InputVisibleLike = "VISIBLE-like (derived black-blood + real image)"
	InputBrightOnly  = "bright-only (real image)"
)

// NegFinding is one false positive: a lesion the appliance reports on a
// brain with nothing inserted.
type NegFinding struct {
	Voxels            int       `json:"voxels"`
	VolumeMM3         float64   `json:"volume_mm3"`
	LongestDiameterMM float64   `json:"longest_diameter_mm"`
	Score             float64   `json:"score"`
	CentreLPS         geom.Vec3 `json:"centre_lps_mm"`
	// Where is the location class (Locations); Words is firmware/detect's
	// location in words; AAL the atlas region at the centre (Colin27).
	Where string `json:"where"`
	Words string `json:"words"`
	AAL   string `json:"aal,omitempty"`
	// Fractions of its voxels: outside the brain mask, at its edge, in the
	// choroid plexus zone, enhancing, bright.
	Outside, Edge, Choroid, Enhancing, Bright float64
}

// NegRow is one brain under one input.
type NegRow struct {
	Brain string `json:"brain"`
	// Contrast says what the image is: "real post-contrast" or
	// "non-contrast head, no simulated enhancement".
	Contrast string       `json:"contrast"`
	Input    string       `json:"input"`
	Findings []NegFinding `json:"false_positives"`
	// LeftOut counts lesions touching the tumour zone (not false
	// positives).
	LeftOut int `json:"left_out_on_tumour"`
	// ByLevel counts the false positives at other levels of the same
	// operating map (RunNegatives' levels), the map gated and cut afresh
	// at each.
	ByLevel   []LevelCount `json:"by_level,omitempty"`
	Seconds   float64      `json:"inference_seconds"`
	Provider  string       `json:"provider"`
	ModelDims [3]int       `json:"model_grid_dims"`
}

// LevelCount is a row's false positives at one level of its operating map.
type LevelCount struct {
	Level          float64 `json:"level"`
	FalsePositives int     `json:"false_positives"`
}

// Count is the row's false positives by location.
func (r *NegRow) Count(where string) int {
	k := 0
	for _, f := range r.Findings {
		if f.Where == where {
			k++
		}
	}
	return k
}

// BackgroundInfo describes one brain in the report.
type BackgroundInfo struct {
	Name, Source, BrainRule, TumourRule string
	PostContrast, SkullStripped         bool
	StudyDims                           [3]int
	Spacing                             geom.Vec3
	BrainCM3                            float64
	Levels                              TissueLevels
	// BloodCM3 is the volume with blood fraction ≥ 0.5 in the derived
	// black-blood image (post-contrast brains).
	BloodCM3 float64
}

// NegReport is the real-negatives scoreboard.
type NegReport struct {
	Model       ModelInfo        `json:"model"`
	Params      NegParams        `json:"params"`
	Backgrounds []BackgroundInfo `json:"backgrounds"`
	Rows        []NegRow         `json:"rows"`
	// Levels are the levels each row's ByLevel counts at (none: the
	// manifest's operating points alone).
	Levels []float64 `json:"levels,omitempty"`
}

// pass is one run of the appliance's chain.
type pass struct {
	mi      *volume.ModelInput
	lesions []detect.Lesion
	// ungated is the operating map before the brain gate (only with
	// Options.Levels), op its operating point, ref the reference Find
	// measured with.
	ungated  []float32
	op       detect.Params
	ref      detect.Reference
	secs     float64
	provider string
	accept   float64
}

// runPass runs the appliance's chain on a study (black nil: bright-only):
// firmware/volume.Prepare, runtime/infer.Predict, the manifest's operating
// map (its second stage for the input kind), the brain gate
// (detect.GateBrain) and firmware/detect.Find on the model grid, as the
// evaluate runner and Check do.
func runPass(ctx context.Context, black, bright *volume.Volume, o Options) (*pass, error) {
	m := o.Manifest
	mi, err := volume.Prepare(black, bright, m)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	g := mi.Grid.Dims
	shape := [5]int64{1, int64(len(mi.Channels)), int64(g[2]), int64(g[1]), int64(g[0])}
	t0 := time.Now()
	out, oshape, st, err := infer.Predict(ctx, o.Engine, mi.Data, shape, o.Plan)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	p := &pass{mi: mi, secs: time.Since(t0).Seconds(), provider: st.Provider}
	ch, n := m.Output.Channel, mi.Grid.Len()
	if int(oshape[1]) <= ch || len(out) < (ch+1)*n {
		return nil, fmt.Errorf("realcheck: model output %v has no channel %d", oshape, ch)
	}
	prob := out[ch*n : (ch+1)*n]
	k := mi.Channel(manifest.ChannelBlack)
	opMap, op, err := detect.BrainMap(prob, k, mi.Channel(manifest.ChannelBright), mi.BrainMask, g, m.Output, k != nil && !mi.BlackZeroed)
	if err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	p.accept, p.op = op.Threshold, op
	var ok bool
	p.ref, ok = detect.ReferenceFromImage(bright.Data, bright.Grid)
	if !ok {
		p.ref = detect.GridReference(bright.Grid)
	}
	if p.lesions, err = detect.Find(opMap, mi.Grid, op, p.ref); err != nil {
		return nil, fmt.Errorf("realcheck: %w", err)
	}
	if len(o.Levels) > 0 { // kept only when other levels are asked for: a stage scores the study again
		if p.ungated, _, err = detect.OperatingMap(prob, k, mi.Channel(manifest.ChannelBright), mi.BrainMask, g, m.Output, k != nil && !mi.BlackZeroed); err != nil {
			return nil, fmt.Errorf("realcheck: %w", err)
		}
	}
	return p, nil
}

// at returns the pass's lesions at level t of its operating map instead of
// the operating point: the map gated at t (detect.GateBrain) and cut at t
// with the manifest's smallest component, as the appliance would at that
// operating point.
func (p *pass) at(t float64) ([]detect.Lesion, error) {
	op := slices.Clone(p.ungated)
	detect.GateBrain(op, p.mi.BrainMask, p.mi.Grid.Dims, float32(t))
	return detect.Find(op, p.mi.Grid, detect.Params{Threshold: t, MinComponentMM3: p.op.MinComponentMM3}, p.ref)
}

// RunNegatives runs the model of o on every background, as a VISIBLE-like
// pair (DeriveBlack) and bright-only, and places every lesion found.
func RunNegatives(ctx context.Context, bgs []*Background, o Options, p NegParams, progress io.Writer) (*NegReport, error) {
	if o.Manifest == nil || o.Engine == nil {
		return nil, fmt.Errorf("realcheck: a manifest and an engine are needed")
	}
	if p == (NegParams{}) {
		p = DefaultNegParams
	}
	m := o.Manifest
	rep := &NegReport{Params: p, Model: ModelInfo{Manifest: o.ManifestPath, Name: m.Name, Version: m.Version, Precision: m.Precision,
		Threshold: m.Output.Threshold, MinComponentMM3: m.Output.MinComponentMM3}, Levels: o.Levels}
	for _, b := range bgs {
		masks, err := MakeMasks(b, p)
		if err != nil {
			return nil, err
		}
		black, blood, err := DeriveBlack(b, masks)
		if err != nil {
			return nil, err
		}
		info := BackgroundInfo{Name: b.Name, Source: b.Source, BrainRule: b.BrainRule, TumourRule: b.TumourRule,
			PostContrast: b.PostContrast, SkullStripped: b.SkullStripped, StudyDims: b.Grid().Dims, Spacing: b.Grid().Spacing(),
			BrainCM3: masks.BrainMM3 / 1000, Levels: masks.Levels}
		for _, w := range blood {
			if w >= 0.5 {
				info.BloodCM3 += b.Grid().VoxelVolume() / 1000
			}
		}
		rep.Backgrounds = append(rep.Backgrounds, info)
		contrast := "real post-contrast"
		if !b.PostContrast {
			contrast = "non-contrast head, no simulated enhancement"
		}
		for _, in := range []string{InputVisibleLike, InputBrightOnly} {
			var k *volume.Volume
			if in == InputVisibleLike {
				k = black
			}
			ps, err := runPass(ctx, k, b.Image, o)
			if err != nil {
				return nil, fmt.Errorf("realcheck: %s, %s: %w", b.Name, in, err)
			}
			row := NegRow{Brain: b.Name, Contrast: contrast, Input: in, Seconds: ps.secs, Provider: ps.provider, ModelDims: ps.mi.Grid.Dims}
			toSrc, err := voxelMap(ps.mi.Grid, b.Grid())
			if err != nil {
				return nil, err
			}
			for _, l := range ps.lesions {
				f, onTumour := place(l, ps.mi.Grid, toSrc, b, masks, p)
				if onTumour {
					row.LeftOut++
					continue
				}
				row.Findings = append(row.Findings, f)
			}
			for _, t := range o.Levels {
				ls, err := ps.at(t)
				if err != nil {
					return nil, fmt.Errorf("realcheck: %s, %s at %g: %w", b.Name, in, t, err)
				}
				n := 0
				for _, l := range ls {
					if _, onTumour := place(l, ps.mi.Grid, toSrc, b, masks, p); !onTumour {
						n++
					}
				}
				row.ByLevel = append(row.ByLevel, LevelCount{Level: t, FalsePositives: n})
			}
			rep.Rows = append(rep.Rows, row)
			if progress != nil {
				fmt.Fprintf(progress, "%s, %s: %d false positives (%d left out on the tumour), %.1f s\n", b.Name, in, len(row.Findings), row.LeftOut, row.Seconds)
			}
		}
	}
	return rep, nil
}

// Locate is the location rule of the negatives report for one lesion found
// on model's grid (toSrc maps model voxels to b's): where it lies on b (one
// of Locations, the first that fits), and whether it touches b's tumour
// zone (then it is the tumour's, not a false positive). Other tools place
// their false positives with it (tools/evaluate on the phantom's real
// brains) rather than with rules of their own.
func Locate(l detect.Lesion, model geom.Grid, toSrc geom.Affine, b *Background, m *Masks, p NegParams) (f NegFinding, onTumour bool) {
	return place(l, model, toSrc, b, m, p)
}

// place measures what lies under lesion l (model grid) on the background's
// grid, nearest voxel, and gives its location class; onTumour is true when
// any voxel touches the tumour zone.
func place(l detect.Lesion, model geom.Grid, toSrc geom.Affine, b *Background, m *Masks, p NegParams) (NegFinding, bool) {
	f := NegFinding{Voxels: len(l.Voxels), VolumeMM3: l.VolumeMM3, LongestDiameterMM: l.LongestDiameterMM, Score: l.MaxProb,
		CentreLPS: l.CentreLPS, Words: l.Location.String()}
	var out, edge, ch, enh, bright int
	for _, idx := range l.Voxels {
		si, in := nearest(idx, model, toSrc, b.Grid())
		if !in || m.Brain[si] == 0 {
			out++
			if in && m.TumourZone != nil && m.TumourZone[si] != 0 {
				return f, true
			}
			continue
		}
		if m.TumourZone != nil && m.TumourZone[si] != 0 {
			return f, true
		}
		if m.Edge[si] != 0 {
			edge++
		}
		if m.Choroid[si] != 0 {
			ch++
		}
		if m.Enhancement != nil && float64(m.Enhancement[si]) >= p.EnhanceZ {
			enh++
		}
		if float64(m.Z[si]) >= p.BrightZ {
			bright++
		}
	}
	nv := float64(max(len(l.Voxels), 1))
	f.Outside, f.Edge, f.Choroid, f.Enhancing, f.Bright = float64(out)/nv, float64(edge)/nv, float64(ch)/nv, float64(enh)/nv, float64(bright)/nv
	low := m.BrainZ[0] + p.SkullBaseFraction*(m.BrainZ[1]-m.BrainZ[0])
	switch {
	case f.Outside >= 0.5 && l.CentreLPS[2] < low:
		f.Where = LocSkullBase
	case f.Outside >= 0.5:
		f.Where = LocOutside
	case f.Outside+f.Edge >= 0.5:
		f.Where = LocEdge
	case f.Choroid >= 1.0/3:
		f.Where = LocChoroid
	case f.Enhancing >= 1.0/3:
		f.Where = LocVessel
	case f.Bright >= 1.0/3:
		f.Where = LocBright
	default:
		f.Where = LocOther
	}
	if b.AAL != nil {
		inv, err := b.Grid().Affine.Inverse()
		if err == nil {
			v := inv.Apply(l.CentreLPS)
			i, j, k := int(v[0]+0.5), int(v[1]+0.5), int(v[2]+0.5)
			if b.Grid().Contains(i, j, k) {
				if a := int(b.AAL[b.Grid().Index(i, j, k)]); a > 0 {
					f.AAL = b.AALNames[a]
				} else {
					f.AAL = "outside the AAL regions"
				}
			}
		}
	}
	return f, false
}

// Summary is the scoreboard's figures for one input kind.
type Summary struct {
	Input string
	// Brains counts the rows; MeanFP is the mean false positives per
	// brain; Above1 counts brains with more than one; Max is the largest.
	Brains, Above1, Max int
	MeanFP              float64
	// MedianVoxels is the median size of all its false positives.
	MedianVoxels float64
}

// Summarise gives one Summary per input kind, in row order.
func (r *NegReport) Summarise() []Summary {
	var out []Summary
	for _, in := range []string{InputVisibleLike, InputBrightOnly} {
		s := Summary{Input: in}
		var sizes []int
		total := 0
		for _, row := range r.Rows {
			if row.Input != in {
				continue
			}
			s.Brains++
			n := len(row.Findings)
			total += n
			s.Max = max(s.Max, n)
			if n > 1 {
				s.Above1++
			}
			for _, f := range row.Findings {
				sizes = append(sizes, f.Voxels)
			}
		}
		if s.Brains == 0 {
			continue
		}
		s.MeanFP = float64(total) / float64(s.Brains)
		s.MedianVoxels = median(sizes)
		out = append(out, s)
	}
	return out
}

// LevelSummary is the scoreboard's figures for one input kind at one level
// of the operating map (NegReport.Levels).
type LevelSummary struct {
	Input  string
	Level  float64
	MeanFP float64
	// Above1 counts brains with more than one false positive; Met says
	// the level meets issue 23's target (MeetsTarget).
	Above1 int
	Met    bool
}

// MeetsTarget is issue 23's target for real negatives: at most 0.3 false
// positives per brain on average, and no brain above 1.
func MeetsTarget(meanFP float64, above1 int) bool { return meanFP <= 0.3 && above1 == 0 }

// SummariseLevels gives one LevelSummary per input kind and level, in
// input then level order; none when the report counted no other levels.
func (r *NegReport) SummariseLevels() []LevelSummary {
	var out []LevelSummary
	for _, in := range []string{InputVisibleLike, InputBrightOnly} {
		for j, t := range r.Levels {
			s := LevelSummary{Input: in, Level: t}
			brains, total := 0, 0
			for _, row := range r.Rows {
				if row.Input != in || j >= len(row.ByLevel) {
					continue
				}
				brains++
				n := row.ByLevel[j].FalsePositives
				total += n
				if n > 1 {
					s.Above1++
				}
			}
			if brains == 0 {
				continue
			}
			s.MeanFP = float64(total) / float64(brains)
			s.Met = MeetsTarget(s.MeanFP, s.Above1)
			out = append(out, s)
		}
	}
	return out
}

func median(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return float64(s[len(s)/2-1]+s[len(s)/2]) / 2
}
