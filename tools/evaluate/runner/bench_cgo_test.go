//go:build cgo

package runner

import (
	"context"
	"path/filepath"
	"testing"

	"metsentry/firmware/testenv"
	"metsentry/firmware/volume"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
	"metsentry/runtime/model"
	"metsentry/tools/phantom/phantom"
)

// BenchmarkShippedModelPass times one fp32 pass of the shipped model over a
// phantom test study's model grid, cut to the brain (what the appliance
// runs) against the whole head grid (volume.PrepareHead, as before MetNet
// 0.3.0), in one process so the ratio holds on a noisy machine:
//
//	go test -run '^$' -bench ShippedModelPass -benchtime 3x ./tools/evaluate/runner
func BenchmarkShippedModelPass(b *testing.B) {
	root := testenv.RepoRoot(b)
	md, plan, err := model.OpenTool(context.Background(), filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json"), filepath.Join(root, "models", "trust"), "", 0)
	if err != nil {
		b.Fatal(err)
	}
	defer md.Close()
	g, err := phantom.NewGenerator(testenv.SharedData(b, "anatomy", "colin27"), phantom.Config{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := g.Generate(0, phantom.Test)
	if err != nil {
		b.Fatal(err)
	}
	black, bright := &volume.Volume{Grid: c.Grid, Data: c.Black}, &volume.Volume{Grid: c.Grid, Data: c.Bright}
	for _, tc := range []struct {
		name    string
		prepare func(black, bright *volume.Volume, m *manifest.Manifest) (*volume.ModelInput, error)
	}{
		{"head-grid", volume.PrepareHead},
		{"brain-grid", volume.Prepare},
	} {
		mi, err := tc.prepare(black, bright, md.Manifest())
		if err != nil {
			b.Fatal(err)
		}
		d := mi.Grid.Dims
		shape := [5]int64{1, int64(len(mi.Channels)), int64(d[2]), int64(d[1]), int64(d[0])}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := infer.Predict(context.Background(), md, mi.Data, shape, plan); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(mi.Grid.Len())/1e6, "Mvoxels")
		})
	}
}
