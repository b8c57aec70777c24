package runner

import (
	"context"

	"metsentry/firmware/analyze"
	"metsentry/firmware/volume"
)

// ModelDetector runs a model through the appliance's own chain,
// firmware/analyze: volume.Prepare on the manifest's grid, runtime/infer
// whole or tiled, the manifest's rescore stage for the study's mode
// (detect.OperatingMap; off with Model.NoRescore), and the map sampled back
// onto the source grid, keeping its values so the FROC can sweep them.
//
// Model.Engine is a runtime/model.Model in the evaluate command (built with
// cgo); tests use a stand-in.
type ModelDetector struct {
	Label string
	analyze.Model
}

// Name implements Detector.
func (d *ModelDetector) Name() string {
	if d.Label != "" {
		return d.Label
	}
	return d.Model.Name()
}

// Prob implements Detector: analyze.Model.SourceMap, the map the study's
// operating point applies to, on bright's grid.
func (d *ModelDetector) Prob(ctx context.Context, black, bright *volume.Volume) ([]float32, error) {
	p, _, err := d.SourceMap(ctx, black, bright)
	return p, err
}
