// Package models holds the shipped detection models, their manifests, and the
// preprocessing contract shared by training and the appliance.
//
// The model sees exactly what firmware/volume.Prepare makes of a study: both
// channels on a 1 mm grid along patient LPS axes, cropped to the head, padded
// to a multiple of 8, z-scored inside the head mask. models/trainset writes
// training cases through that same function, so there is one definition of the
// model's input, not a Go one and a Python one that drift apart.
package models

import "metsentry/runtime/manifest"

// Preprocessing returns the manifest fields that define the model's input:
// channels, grid spacing, normalisation and layout. Training and the shipped
// manifests both start from it.
func Preprocessing() manifest.Manifest {
	return manifest.Manifest{
		Schema:     manifest.Schema,
		Channels:   []string{manifest.ChannelBlack, manifest.ChannelBright},
		BrightOnly: true,
		SpacingMM:  [3]float64{1, 1, 1},
		Normalisation: manifest.Normalisation{
			Method: manifest.NormZScoreMask,
		},
		Layout: manifest.Layout{Mode: manifest.LayoutWhole, Multiple: 8, ReceptiveFieldMM: 96},
		Output: manifest.Output{Meaning: "lesion-probability", Channel: 0},
	}
}
