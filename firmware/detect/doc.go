// Package detect turns the model's lesion-probability map into lesions: it
// thresholds the map at the manifest's operating point, groups the voxels above
// it into 26-connected components, drops components smaller than the manifest's
// minimum volume, and measures what is left (centre in patient LPS mm, longest
// diameter, volume, maximum and mean probability, a location in words). Lesions
// are sorted largest first and numbered 1, 2, … in that order; the number is
// the lesion's segment number in the SEG and its tracking id in the SR.
//
// Everything here works on the model grid (a geom.Grid). The results are sent
// on the source series' grid, so SourceLabels maps a label volume from the
// model grid to the source grid through an injectable Resampler; the volume
// package, which knows how the model grid was made from the source, provides
// the production one, and NearestResampler (nearest neighbour through the two
// affines) is the default.
//
// A manifest may carry a second stage for VISIBLE studies (rescore.go):
// Rescore cuts the probability map at a low candidate threshold, measures
// each candidate (size, probabilities, elongation, both channels' values and
// their contrast against the tissue just around it, over that tissue's
// texture) and writes the stage's score (logistic, or through a hidden layer)
// over the candidate's core; Find on that score map at the stage's accept
// level gives the lesions. A bright-only study
// has no black-blood channel to measure: it gets the manifest's bright-only
// stage (the same kind of model over the measurements that need no
// black-blood image, BrightOnlyFeatures), or without one the probability
// map at the manifest's threshold. OperatingMap makes that choice, in one
// place, for the appliance and the tools.
//
// Metastases grow in the brain. GateBrain (brain.go) drops, from the
// operating map, every component that lies mostly outside the brain that
// firmware/volume finds on the bright image (its BrainMask): the skull base,
// neck, orbit and scalp, where a network trained on brains has nothing to
// find and most of its false positives on real whole heads fell.
//
// The location in words (location.go) is a coarse description from position
// alone, not an atlas look-up: see Locate for how it is derived and what it
// assumes.
package detect
