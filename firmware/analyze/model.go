package analyze

import (
	"context"
	"fmt"
	"slices"

	"metsentry/firmware/detect"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

// Model is a model as the appliance runs it: its manifest (input channels,
// grid, normalisation, operating point and rescore stages), an engine that
// runs it (runtime/model.Model in the daemon and the tools, a stand-in in
// tests) and the plan for a pass (whole volume or tiles, from the board's
// memory budget).
type Model struct {
	Manifest *manifest.Manifest
	Engine   infer.Engine
	Plan     infer.Plan
	// NoRescore ignores the manifest's rescore stages and keeps the
	// network's probabilities (tools/evaluate's -no-rescore; never set in
	// the appliance).
	NoRescore bool
}

// Name says which model this is, for reports and logs.
func (m *Model) Name() string {
	name := fmt.Sprintf("model %s %s (%s)", m.Manifest.Name, m.Manifest.Version, m.Manifest.Precision)
	o, full := m.Output(), m.Manifest.Output
	switch {
	case o.Rescore != nil && o.RescoreBrightOnly != nil:
		name += " with its rescore stages (VISIBLE and bright-only)"
	case o.Rescore != nil:
		name += " with its rescore stage on VISIBLE studies"
	case o.RescoreBrightOnly != nil:
		name += " with its rescore stage on bright-only studies"
	case full.Rescore != nil || full.RescoreBrightOnly != nil:
		name += ", network probabilities (rescore stages off)"
	}
	return name
}

// Output is the manifest's output as this model applies it: without the
// rescore stages when NoRescore is set.
func (m *Model) Output() manifest.Output {
	o := m.Manifest.Output
	if m.NoRescore {
		o.Rescore, o.RescoreBrightOnly = nil, nil
	}
	return o
}

// Network puts the study on the model grid (volume.Prepare; black nil for a
// bright-only study) and returns it with the network's lesion probability
// there, before any rescore stage.
func (m *Model) Network(ctx context.Context, black, bright *volume.Volume) (*volume.ModelInput, []float32, error) {
	mi, err := volume.Prepare(black, bright, m.Manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("analyze: %w", err)
	}
	g := mi.Grid.Dims
	shape := [5]int64{1, int64(len(mi.Channels)), int64(g[2]), int64(g[1]), int64(g[0])}
	out, oshape, _, err := infer.Predict(ctx, m.Engine, mi.Data, shape, m.Plan)
	if err != nil {
		return nil, nil, fmt.Errorf("analyze: %w", err)
	}
	ch := m.Manifest.Output.Channel
	n := mi.Grid.Len()
	if int(oshape[1]) <= ch || len(out) < (ch+1)*n {
		return nil, nil, fmt.Errorf("analyze: model output %v has no channel %d", oshape, ch)
	}
	return mi, out[ch*n : (ch+1)*n], nil
}

// SourceMap runs the network and returns the map the study's operating point
// applies to, sampled onto bright's grid, with that operating point: the
// rescore stage's score map for the study's mode (detect.OperatingMap), or
// the network's probability where the manifest has no stage for it, less
// what lies mostly outside the brain (detect.GateBrain).
func (m *Model) SourceMap(ctx context.Context, black, bright *volume.Volume) ([]float32, detect.Params, error) {
	mi, prob, err := m.Network(ctx, black, bright)
	if err != nil {
		return nil, detect.Params{}, err
	}
	k := mi.Channel(manifest.ChannelBlack)
	op, p, err := detect.BrainMap(prob, k, mi.Channel(manifest.ChannelBright), mi.BrainMask, mi.Grid.Dims, m.Output(), k != nil && !mi.BlackZeroed)
	if err != nil {
		return nil, detect.Params{}, fmt.Errorf("analyze: %w", err)
	}
	src, err := toSource(op, mi.Grid, bright.Grid)
	return src, p, err
}

// Findings is what the chain found in one study, on the bright series' grid.
type Findings struct {
	Mode   Mode
	Params detect.Params // the operating point applied
	// Lesions are numbered 1..n, largest first; their voxels index the
	// source grid.
	Lesions []detect.Lesion
	// Labels holds per source voxel its lesion's Number, 0 for none.
	Labels []uint16
}

// Detect runs the whole chain on a study's volumes (black nil: bright-only)
// and returns the lesions on bright's grid.
func (m *Model) Detect(ctx context.Context, black, bright *volume.Volume) (*Findings, error) {
	if bright == nil {
		return nil, fmt.Errorf("analyze: no bright-blood (post-contrast T1) volume (expected one for every study)")
	}
	mp, p, err := m.SourceMap(ctx, black, bright)
	if err != nil {
		return nil, err
	}
	// The head's extent names a lesion's location; where no voxel reaches
	// the operating point there is nothing to name, and finding the head
	// (a pass over the whole source image) is left out.
	var ref detect.Reference
	if thr := float32(p.Threshold); slices.ContainsFunc(mp, func(v float32) bool { return v >= thr }) {
		var ok bool
		if ref, ok = detect.ReferenceFromImage(bright.Data, bright.Grid); !ok {
			ref = detect.GridReference(bright.Grid)
		}
	}
	lesions, err := detect.Find(mp, bright.Grid, p, ref)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	labels, err := detect.Labels(lesions, bright.Grid)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	f := &Findings{Mode: Visible, Params: p, Lesions: lesions, Labels: labels}
	if black == nil {
		f.Mode = BrightOnly
	}
	return f, nil
}
