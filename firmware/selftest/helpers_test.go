package selftest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"metsentry/firmware/analyze"
	"metsentry/firmware/selftest"
	"metsentry/runtime/infer"
	"metsentry/runtime/manifest"
)

// ruleNet is a stand-in network: lesion probability 1 where the normalised
// channels it reads are all above the level of fat and white matter (the
// phantom's lesions enhance in both channels; its vein only in bright).
type ruleNet struct {
	channels []int   // channels read; all must exceed level
	level    float32 // z-score
	shift    int     // moves the output by this many voxels along x (a broken model)
}

func (r ruleNet) Run(_ context.Context, in []float32, shape [5]int64) ([]float32, error) {
	n := int(shape[2] * shape[3] * shape[4])
	out := make([]float32, n)
	for i := range out {
		hit := true
		for _, c := range r.channels {
			hit = hit && in[c*n+i] > r.level
		}
		if hit {
			if j := i + r.shift; j >= 0 && j < n {
				out[j] = 1
			}
		}
	}
	return out, nil
}

func (ruleNet) Provider() string { return "cpu" }
func (ruleNet) Close() error     { return nil }

type failNet struct{ ruleNet }

func (failNet) Run(context.Context, []float32, [5]int64) ([]float32, error) {
	return nil, errors.New("ort: session run failed")
}

func testModel(e infer.Engine) *analyze.Model {
	return &analyze.Model{
		Manifest: &manifest.Manifest{
			Schema: 1, Name: "rule", Version: "0", Precision: "fp32", SHA256: strings.Repeat("ab", 32),
			Channels: []string{"black", "bright"}, BrightOnly: true, SpacingMM: [3]float64{1, 1, 1},
			Normalisation: manifest.Normalisation{Method: "zscore-mask"},
			Layout:        manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8},
			Output:        manifest.Output{Meaning: "lesion-probability", Threshold: 0.5, MinComponentMM3: 2},
		},
		Engine: e,
		Plan:   infer.Plan{Multiple: 8, BudgetBytes: 1 << 40, BytesPerVoxel: 64, OutChannels: 1},
	}
}

var good = ruleNet{channels: []int{0, 1}, level: 1.8}

var (
	phOnce sync.Once
	ph     *selftest.Phantom
)

// sharedPhantom builds the phantom once for the package's tests.
func sharedPhantom(t *testing.T) *selftest.Phantom {
	t.Helper()
	phOnce.Do(func() { ph = selftest.NewPhantom() })
	return ph
}
