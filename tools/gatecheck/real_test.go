//go:build !race

// A real brain loaded and a whole study prepared take most of a minute
// under the race detector; nothing here is concurrent beyond what other
// packages race-check, so it runs in the ordinary test pass only.

package main

import (
	"testing"

	"metsentry/firmware/testenv"
	"metsentry/tools/phantom/phantom"
)

// TestMeasureRealBrain: a train study on Colin27 through volume.Prepare;
// the gate holds its brain and its lesions.
func TestMeasureRealBrain(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a real brain and prepares a whole study (about 20 s)")
	}
	root := testenv.SharedData(t)
	g, err := phantom.NewMultiGenerator(root, []string{"colin27"}, nil, phantom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Generate(1, phantom.Train)
	if err != nil {
		t.Fatal(err)
	}
	r, err := measure(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", r)
	if !r.Found || r.Covered < 0.98 || r.Gated != 0 || r.Lesions == 0 {
		t.Errorf("train study on Colin27: %+v (want the brain found, at least 98%% of it held, no lesion gated away)", r)
	}
	if r.OutCM3 <= 0 || r.OutCM3 > r.BrainCM3 {
		t.Errorf("gate outside the brain %.0f cm³ for a %.0f cm³ brain", r.OutCM3, r.BrainCM3)
	}
}
