//go:build !race

// The race detector slows the Go half of this test (loading, Prepare, the
// reference region over 9 million voxels) past a minute on a small machine;
// nothing in it is concurrent beyond firmware/volume's own tested workers,
// so it runs in the ordinary (non-race) test pass only.

package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"metsentry/firmware/testenv"
)

// TestShippedModelFindsTumour is the acceptance check itself: the shipped
// fp32 model, opened and verified as the daemon does, run on the real BraTS
// case as a bright-only study, flags it and finds the enhancing tumour.
func TestShippedModelFindsTumour(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shipped model on a whole real brain (about 20 s)")
	}
	root := testenv.RepoRoot(t)
	data := testenv.SharedData(t, "anatomy", "brats-gli-00001")
	out := t.TempDir()
	manifest := filepath.Join(root, "models", "metnet", "metnet-fp32.manifest.json")
	if err := run(context.Background(), manifest, filepath.Join(root, "models", "trust"), "", data, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Flagged     bool `json:"flagged"`
		TumourFound bool `json:"tumour_found"`
		Model       struct {
			Version   string  `json:"version"`
			Threshold float64 `json:"threshold"`
		} `json:"model"`
		ProbRef struct {
			Max float64 `json:"max"`
		} `json:"prob_in_reference"`
		Lesions []struct {
			Class string `json:"class"`
		} `json:"lesions"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	for _, l := range r.Lesions {
		classes[l.Class]++
	}
	t.Logf("model %s: flagged %v, tumour found %v, max probability in the reference %.3f, lesions by class %v", r.Model.Version, r.Flagged, r.TumourFound, r.ProbRef.Max, classes)
	if !r.Flagged || !r.TumourFound || r.ProbRef.Max < r.Model.Threshold {
		t.Errorf("flagged %v, tumour found %v, max probability %.3f in the reference (threshold %.3g): the real enhancing tumour must be found", r.Flagged, r.TumourFound, r.ProbRef.Max, r.Model.Threshold)
	}
	for _, name := range []string{"report.md", "prob.nii.gz", "lesions.nii.gz", "reference.nii.gz"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
}
