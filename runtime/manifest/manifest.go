package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
)

// Schema is the manifest format version this firmware reads.
const Schema = 1

// Input channel names.
const (
	ChannelBlack  = "black"  // black-blood: flowing blood suppressed
	ChannelBright = "bright" // bright-blood: ordinary post-contrast T1
)

// Normalisation methods.
const (
	NormZScoreMask = "zscore-mask" // z-score over voxels inside a head mask
	NormPercentile = "percentile"  // clip to [LowPct, HighPct] percentiles, scale to [0, 1]
)

// The range a manifest's peak_bytes_per_voxel may take: a float32 input
// channel alone is 4 bytes a voxel, and a figure over 100 kB a voxel would
// tile any study into slivers.
const (
	MinBytesPerVoxel = 4
	MaxBytesPerVoxel = 100000
)

// Pass layouts.
const (
	LayoutWhole = "whole" // one pass over the whole (cropped) volume
	LayoutTiles = "tiles" // overlapping tiles, blended
)

// Manifest describes one model file.
type Manifest struct {
	Schema    int    `json:"schema"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	File      string `json:"file"`   // model file name, beside the manifest
	SHA256    string `json:"sha256"` // hex of the model file
	Opset     int    `json:"opset"`
	Precision string `json:"precision"` // fp32 or int8

	// Channels is the input channel order, e.g. ["black", "bright"]. A model
	// trained with channel dropout lists both and sets BrightOnly.
	Channels   []string `json:"channels"`
	BrightOnly bool     `json:"bright_only"` // serves bright-only studies (black channel zeroed)

	SpacingMM     [3]float64    `json:"spacing_mm"` // model grid voxel size (x, y, z)
	Normalisation Normalisation `json:"normalisation"`
	Layout        Layout        `json:"layout"`
	Output        Output        `json:"output"`

	// PeakBytesPerVoxel is the peak working memory of one pass per input
	// voxel on ONNX Runtime's CPU provider, measured on this file
	// (runtime/cmd/ortbench); the tiling planner weighs a board's memory
	// budget with it. 0: the runtime's figure for the precision.
	PeakBytesPerVoxel float64 `json:"peak_bytes_per_voxel,omitempty"`

	Reference *Reference      `json:"reference,omitempty"`
	Training  json.RawMessage `json:"training,omitempty"`
	Metrics   json.RawMessage `json:"metrics,omitempty"`
}

// Normalisation says how intensities are scaled before inference.
type Normalisation struct {
	Method  string  `json:"method"`
	LowPct  float64 `json:"low_pct,omitempty"`
	HighPct float64 `json:"high_pct,omitempty"`
}

// Layout says how a volume passes through the model.
type Layout struct {
	Mode     string `json:"mode"`
	Patch    [3]int `json:"patch,omitempty"`   // tile size in voxels (tiles mode)
	Overlap  [3]int `json:"overlap,omitempty"` // tile overlap in voxels
	Multiple int    `json:"multiple"`          // each spatial size must be a multiple of this (2^levels)
	// ReceptiveFieldMM is the model's receptive field; tiles overlap by at
	// least half of it to match a whole-volume pass.
	ReceptiveFieldMM float64 `json:"receptive_field_mm,omitempty"`
}

// Output says what the model returns and the operating point.
type Output struct {
	Meaning         string  `json:"meaning"` // "lesion-probability"
	Channel         int     `json:"channel"` // index of the lesion channel
	Threshold       float64 `json:"threshold"`
	MinComponentMM3 float64 `json:"min_component_mm3"`
	// Rescore, when present, is a second stage for VISIBLE studies: the
	// components of the probability map at Rescore.Candidate are scored by a
	// small model over measurements of each (firmware/detect.Rescore),
	// and a component is a lesion when its score is at least Rescore.Accept.
	// Threshold stays the operating point of the probability map itself,
	// used when no stage applies.
	Rescore *Rescore `json:"rescore,omitempty"`
	// RescoreBrightOnly, when present, is the same kind of stage for
	// bright-only studies (no black-blood series): fitted on the network's
	// candidates with the black channel withheld, over measurements that
	// need no black-blood image. Without it a bright-only study uses
	// Threshold.
	RescoreBrightOnly *Rescore `json:"rescore_bright_only,omitempty"`
}

// Rescore is a logistic model over component features: score =
// σ(bias + Σ weights[i]·(feature[i] − mean[i])/scale[i]), or with a hidden
// layer (Hidden) over the units that read those standardised features.
type Rescore struct {
	Candidate float64   `json:"candidate"` // probability threshold of candidate components
	Accept    float64   `json:"accept"`    // smallest score kept as a lesion
	Features  []string  `json:"features"`  // names (firmware/detect.RescoreFeatures)
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Weights   []float64 `json:"weights"`
	Bias      float64   `json:"bias"`
	// MassVoxels, when above 0, leaves large sure masses to the network:
	// a connected piece of a candidate's core that holds at least
	// MassVoxels voxels of the model grid (1 mm: mm³) and peaks at or above
	// MassProb scores at least that peak, whatever the stage's model says
	// (firmware/detect.Rescore). A stage fitted on the phantom's round
	// metastases has seen no large irregular enhancing tumour, and must not
	// be the one to turn it down.
	MassVoxels int     `json:"mass_voxels,omitempty"`
	MassProb   float64 `json:"mass_prob,omitempty"`
	// Hidden, when present, puts a layer of tanh units between the
	// standardised features and the score: unit k reads
	// tanh(Hidden.Bias[k] + Σj Hidden.Weights[k][j]·zj), and the score is
	// the logistic of Bias + Σk Weights[k]·unit k, so Weights holds one
	// weight a unit instead of one a feature. Without it the stage is a
	// logistic model of the standardised features.
	Hidden *Layer `json:"hidden,omitempty"`
	// Fit says what the model was fitted on (generator, split, seeds).
	Fit string `json:"fit"`
}

// Layer is a rescore stage's hidden layer: Weights[k] (one a feature) and
// Bias[k] for each unit k.
type Layer struct {
	Weights [][]float64 `json:"weights"`
	Bias    []float64   `json:"bias"`
}

// Reference is the start-up self-test: a small input and the output the model
// must reproduce within Tolerance.
type Reference struct {
	Shape     []int64 `json:"shape"`     // input shape, e.g. [1, 2, 16, 16, 16]
	Input     string  `json:"input"`     // file beside the manifest: little-endian float32
	Output    string  `json:"output"`    // file beside the manifest: little-endian float32
	Tolerance float64 `json:"tolerance"` // max absolute difference
}

// ErrInvalid wraps every schema problem Parse finds.
var ErrInvalid = errors.New("manifest: invalid")

var reSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Load reads and validates a manifest file.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes and validates manifest JSON. Unknown fields are errors.
func Parse(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the manifest's fields and returns every problem found.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if m.Schema != Schema {
		bad("schema %d is not supported (this firmware reads schema %d)", m.Schema, Schema)
	}
	if m.Name == "" || m.Version == "" {
		bad("name and version are required")
	}
	if m.File == "" {
		bad("file is required (the model file name beside the manifest)")
	}
	if !reSHA.MatchString(m.SHA256) {
		bad("sha256 %q is not 64 lower-case hex digits", m.SHA256)
	}
	if m.Opset < 7 || m.Opset > 23 {
		bad("opset %d is out of range (7 to 23)", m.Opset)
	}
	if m.Precision != "fp32" && m.Precision != "int8" {
		bad("precision %q is not fp32 or int8", m.Precision)
	}
	if len(m.Channels) == 0 || len(m.Channels) > 2 {
		bad("channels %v: expected [bright] or [black, bright]", m.Channels)
	}
	for _, c := range m.Channels {
		if c != ChannelBlack && c != ChannelBright {
			bad("unknown channel %q (use black or bright)", c)
		}
	}
	if !slices.Contains(m.Channels, ChannelBright) {
		bad("channels %v must include bright", m.Channels)
	}
	if m.BrightOnly && len(m.Channels) != 2 {
		bad("bright_only needs both channels listed (the black channel is zeroed)")
	}
	for i, s := range m.SpacingMM {
		if !(s >= 0.2 && s <= 5) {
			bad("spacing_mm[%d] %g is out of range (0.2 to 5 mm)", i, s)
		}
	}
	switch m.Normalisation.Method {
	case NormZScoreMask:
	case NormPercentile:
		n := m.Normalisation
		if !(n.LowPct >= 0 && n.LowPct < n.HighPct && n.HighPct <= 100) {
			bad("percentile normalisation needs 0 <= low_pct < high_pct <= 100, got %g and %g", n.LowPct, n.HighPct)
		}
	default:
		bad("normalisation.method %q is not %s or %s", m.Normalisation.Method, NormZScoreMask, NormPercentile)
	}
	l := m.Layout
	if l.Multiple < 1 || l.Multiple > 64 {
		bad("layout.multiple %d is out of range (1 to 64)", l.Multiple)
	}
	switch l.Mode {
	case LayoutWhole:
	case LayoutTiles:
		for i := range 3 {
			if l.Patch[i] < 8 || l.Patch[i] > 512 || (l.Multiple > 0 && l.Patch[i]%l.Multiple != 0) {
				bad("layout.patch[%d] %d must be 8 to 512 and a multiple of %d", i, l.Patch[i], l.Multiple)
			}
			if l.Overlap[i] < 0 || l.Overlap[i] >= l.Patch[i] {
				bad("layout.overlap[%d] %d must be 0 to patch-1", i, l.Overlap[i])
			}
		}
	default:
		bad("layout.mode %q is not %s or %s", l.Mode, LayoutWhole, LayoutTiles)
	}
	if b := m.PeakBytesPerVoxel; b != 0 && !(b >= MinBytesPerVoxel && b <= MaxBytesPerVoxel) {
		bad("peak_bytes_per_voxel %g is out of range (%d to %d, or absent)", b, MinBytesPerVoxel, MaxBytesPerVoxel)
	}
	o := m.Output
	if o.Meaning != "lesion-probability" {
		bad("output.meaning %q is not lesion-probability", o.Meaning)
	}
	if o.Channel < 0 || o.Channel > 7 {
		bad("output.channel %d is out of range", o.Channel)
	}
	if !(o.Threshold > 0 && o.Threshold < 1) {
		bad("output.threshold %g must be between 0 and 1", o.Threshold)
	}
	if o.MinComponentMM3 < 0 {
		bad("output.min_component_mm3 %g must not be negative", o.MinComponentMM3)
	}
	checkRescore := func(name string, r *Rescore) {
		if !(r.Candidate > 0 && r.Candidate < 1) || !(r.Accept > 0 && r.Accept < 1) {
			bad("output.%s.candidate %g and accept %g must be between 0 and 1", name, r.Candidate, r.Accept)
		}
		n := len(r.Features)
		if n == 0 || len(r.Mean) != n || len(r.Scale) != n {
			bad("output.%s has %d features, %d means and %d scales; want the same number, at least 1", name, n, len(r.Mean), len(r.Scale))
		}
		finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
		ok := finite(r.Bias)
		for i := range min(n, len(r.Mean), len(r.Scale)) {
			ok = ok && finite(r.Mean[i]) && finite(r.Scale[i]) && r.Scale[i] > 0
		}
		units := n // what Weights weighs: the features, or the hidden units
		if h := r.Hidden; h != nil {
			units = len(h.Bias)
			if units == 0 || len(h.Weights) != units {
				bad("output.%s.hidden has %d weight rows and %d biases; want the same number, at least 1", name, len(h.Weights), len(h.Bias))
			}
			for k := range min(units, len(h.Weights)) {
				if len(h.Weights[k]) != n {
					bad("output.%s.hidden unit %d has %d weights for %d features", name, k, len(h.Weights[k]), n)
					break
				}
				ok = ok && finite(h.Bias[k])
				for _, w := range h.Weights[k] {
					ok = ok && finite(w)
				}
			}
		}
		if len(r.Weights) != units {
			bad("output.%s has %d weights for %d %s", name, len(r.Weights), units, map[bool]string{true: "hidden units", false: "features"}[r.Hidden != nil])
		}
		for _, w := range r.Weights {
			ok = ok && finite(w)
		}
		if !ok {
			bad("output.%s holds a number that is not finite, or a scale that is not positive", name)
		}
		if r.MassVoxels < 0 || (r.MassVoxels > 0 && !(r.MassProb >= r.Accept && r.MassProb <= 1)) || (r.MassVoxels == 0 && r.MassProb != 0) {
			bad("output.%s.mass_voxels %d and mass_prob %g: a mass rule needs at least one voxel and a probability from accept (%g) to 1", name, r.MassVoxels, r.MassProb, r.Accept)
		}
	}
	if o.Rescore != nil {
		checkRescore("rescore", o.Rescore)
	}
	if o.RescoreBrightOnly != nil {
		checkRescore("rescore_bright_only", o.RescoreBrightOnly)
	}
	if r := m.Reference; r != nil {
		if len(r.Shape) != 5 || r.Shape[0] != 1 || r.Shape[1] != int64(len(m.Channels)) {
			bad("reference.shape %v must be [1, %d, d, h, w]", r.Shape, len(m.Channels))
		}
		if r.Input == "" || r.Output == "" {
			bad("reference.input and reference.output are required")
		}
		if !(r.Tolerance > 0 && r.Tolerance < 1) {
			bad("reference.tolerance %g must be between 0 and 1", r.Tolerance)
		}
	}
	return errors.Join(errs...)
}
