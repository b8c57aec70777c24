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
// The location in words (location.go) is a coarse description from position
// alone, not an atlas look-up: see Locate for how it is derived and what it
// assumes.
package detect
