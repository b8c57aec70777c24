package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

func TestPlanFromManifest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout manifest.Layout
		space  [3]float64
		want   infer.Plan
	}{
		{"tiles, axes reversed", manifest.Layout{Mode: manifest.LayoutTiles, Patch: [3]int{64, 96, 128}, Overlap: [3]int{16, 24, 32}, Multiple: 8, ReceptiveFieldMM: 20},
			[3]float64{1, 1, 2},
			infer.Plan{Multiple: 8, Patch: [3]int{128, 96, 64}, Overlap: [3]int{32, 24, 16}, Margin: [3]int{5, 10, 8}}},
		{"whole: overlap from the receptive field", manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8, ReceptiveFieldMM: 30},
			[3]float64{1, 1, 1},
			infer.Plan{Multiple: 8, Overlap: [3]int{32, 32, 32}, Margin: [3]int{15, 15, 15}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := &Model{manifest: &manifest.Manifest{Layout: tc.layout, SpacingMM: tc.space}}
			got := md.Plan(1<<30, 500)
			tc.want.BudgetBytes, tc.want.BytesPerVoxel, tc.want.Blend, tc.want.SkipEmpty, tc.want.OutChannels = 1<<30, 500, true, true, 1
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("plan (-want +got):\n%s", d)
			}
		})
	}
}

// The planner takes a manifest's measured memory figure over the default for
// its precision.
func TestBytesPerVoxel(t *testing.T) {
	for _, tc := range []struct {
		m    manifest.Manifest
		want float64
	}{
		{manifest.Manifest{Precision: "fp32"}, 360},
		{manifest.Manifest{Precision: "int8"}, 1060},
		{manifest.Manifest{Precision: "fp32", PeakBytesPerVoxel: 200}, 200},
		{manifest.Manifest{Precision: "int8", PeakBytesPerVoxel: 900}, 900},
	} {
		if got := BytesPerVoxel(&tc.m); got != tc.want {
			t.Errorf("%s with peak %g: %g bytes a voxel, want %g", tc.m.Precision, tc.m.PeakBytesPerVoxel, got, tc.want)
		}
	}
}
