package selftest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"metsentry/firmware/analyze"
	"metsentry/firmware/geom"
)

// ErrFailed is returned (wrapped, with every problem) by Report.Err when the
// model did not give the phantom's expected result, or could not be opened
// or run.
var ErrFailed = errors.New("selftest: failed")

// Tolerances a found lesion must meet to count as the placed one. A working
// model meets them with room to spare (see selftest_test.go and the real
// model's test in firmware/cmd/metsentryd); a model that is broken, blind to
// a channel or wrongly calibrated does not.
const (
	// GrowMM: a finding matches a placed lesion when one of its voxels lies
	// within the placed sphere grown by this much (the BraTS-METS rule of
	// DESIGN.md).
	GrowMM = 1.0
	// MaxCentreOffset is the largest distance from the finding's centre to
	// the placed centre, as a fraction of the placed diameter.
	MaxCentreOffset = 0.2
	// MinVolumeRatio and MaxVolumeRatio bound the finding's volume over the
	// placed sphere's.
	MinVolumeRatio, MaxVolumeRatio = 0.5, 1.8
)

// Match is what the model found for one placed lesion.
type Match struct {
	Placed Placed `json:"placed"`
	// Found is false when no finding overlaps the placed lesion.
	Found bool `json:"found"`
	// Findings is how many findings overlap it (1 when all is well).
	Findings        int       `json:"findings"`
	CentreLPS       geom.Vec3 `json:"centre_lps_mm,omitempty"`
	CentreOffsetMM  float64   `json:"centre_offset_mm,omitempty"`
	VolumeMM3       float64   `json:"volume_mm3,omitempty"`
	VolumeRatio     float64   `json:"volume_ratio,omitempty"`
	DiameterMM      float64   `json:"diameter_mm,omitempty"`
	WithinTolerance bool      `json:"within_tolerance"`
}

// Extra is a finding where the phantom has no lesion: a false positive.
type Extra struct {
	CentreLPS geom.Vec3 `json:"centre_lps_mm"`
	VolumeMM3 float64   `json:"volume_mm3"`
	// Vessel names the phantom vessel the finding lies on, if any.
	Vessel string `json:"vessel,omitempty"`
}

// Report is the self-test's outcome, ready to print or to send as JSON.
type Report struct {
	Phantom string `json:"phantom"`
	// Model names the model that ran (analyze.Model.Name), empty when it
	// could not be opened.
	Model   string  `json:"model,omitempty"`
	Mode    string  `json:"mode,omitempty"`
	Passed  bool    `json:"passed"`
	Lesions []Match `json:"lesions"`
	Extra   []Extra `json:"extra,omitempty"`
	// Problems says in words why the test failed; empty when it passed.
	Problems []string `json:"problems,omitempty"`
}

// Err is nil when the test passed, else ErrFailed with every problem.
func (r *Report) Err() error {
	if r.Passed {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrFailed, strings.Join(r.Problems, "; "))
}

// String is the report for a person: one line per placed lesion and per
// false positive, then PASS or FAIL with the reasons.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "self-test on %s", r.Phantom)
	if r.Model != "" {
		fmt.Fprintf(&b, " with %s", r.Model)
	}
	b.WriteString("\n")
	for _, m := range r.Lesions {
		p := m.Placed
		fmt.Fprintf(&b, "  %-14s %4.1f mm %-5s at (%.0f, %.0f, %.0f): ", p.Name, p.DiameterMM, p.Kind, p.CentreLPS[0], p.CentreLPS[1], p.CentreLPS[2])
		if !m.Found {
			b.WriteString("MISSED\n")
			continue
		}
		fmt.Fprintf(&b, "found, centre %.1f mm off, %.0f mm3 (%.2f× the placed volume)", m.CentreOffsetMM, m.VolumeMM3, m.VolumeRatio)
		if !m.WithinTolerance || m.Findings != 1 {
			b.WriteString(" OUT OF TOLERANCE")
		}
		b.WriteString("\n")
	}
	for _, e := range r.Extra {
		fmt.Fprintf(&b, "  false positive at (%.0f, %.0f, %.0f), %.0f mm3", e.CentreLPS[0], e.CentreLPS[1], e.CentreLPS[2], e.VolumeMM3)
		if e.Vessel != "" {
			fmt.Fprintf(&b, " on the %s", e.Vessel)
		}
		b.WriteString("\n")
	}
	if r.Passed {
		b.WriteString("PASS\n")
	} else {
		b.WriteString("FAIL: " + strings.Join(r.Problems, "; ") + "\n")
	}
	return b.String()
}

// Opener opens the model from its files as the daemon does at start
// (signature, SHA-256, the manifest's reference check, session), so a
// self-test also catches a model file damaged since the daemon started.
// The self-test closes the engine it gets.
type Opener func(ctx context.Context) (*analyze.Model, error)

// Open runs the self-test on a freshly opened model: open, Run, close. A
// model that cannot be opened fails the test with the reason.
func Open(ctx context.Context, open Opener) *Report {
	m, err := open(ctx)
	if err != nil {
		return failed("", fmt.Sprintf("the model could not be opened: %v", err))
	}
	if m != nil && m.Engine != nil {
		defer m.Engine.Close()
	}
	return Run(ctx, m)
}

// Run analyses the built-in phantom with m through the appliance's own
// chain (analyze.Model.Detect: volume → network → rescore → detect) and
// checks the findings against the lesions the phantom holds: each found
// once, within the tolerances above, and nothing else found.
func Run(ctx context.Context, m *analyze.Model) *Report {
	return Check(ctx, m, NewPhantom())
}

// Check is Run on a phantom built beforehand (NewPhantom), for callers that
// test several models on one.
func Check(ctx context.Context, m *analyze.Model, ph *Phantom) *Report {
	if m == nil || m.Manifest == nil || m.Engine == nil {
		return failed("", "no model to test (the daemon runs without --model, or the model was refused at start)")
	}
	name := m.Name()
	f, err := m.Detect(ctx, ph.Black, ph.Bright)
	if err != nil {
		return failed(name, fmt.Sprintf("the model could not analyse the phantom: %v", err))
	}
	r := Compare(ph, f)
	r.Model = name
	return r
}

func failed(model, why string) *Report {
	return &Report{Phantom: Version, Model: model, Problems: []string{why}}
}

// Compare checks findings on ph's bright grid against the lesions ph holds.
func Compare(ph *Phantom, f *analyze.Findings) *Report {
	r := &Report{Phantom: Version, Mode: string(f.Mode)}
	g := ph.Bright.Grid
	vox := g.VoxelVolume()
	if f.Mode != analyze.Visible {
		r.Problems = append(r.Problems, fmt.Sprintf("the phantom was read as %s, expected %s (both channels)", f.Mode, analyze.Visible))
	}
	matched := make([]bool, len(f.Lesions))
	for _, p := range ph.Lesions {
		m := Match{Placed: p}
		reach := p.DiameterMM/2 + GrowMM
		var voxels int
		var centre geom.Vec3
		for li, l := range f.Lesions {
			if !touches(l.Voxels, g, p.CentreLPS, reach) {
				continue
			}
			matched[li] = true
			m.Findings++
			voxels += len(l.Voxels)
			centre = centre.Add(l.CentreLPS.Scale(float64(len(l.Voxels))))
			m.DiameterMM = math.Max(m.DiameterMM, l.LongestDiameterMM)
		}
		if m.Findings == 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("the %s lesion (%.0f mm, %s) was not found", p.Name, p.DiameterMM, p.Kind))
			r.Lesions = append(r.Lesions, m)
			continue
		}
		m.Found = true
		m.CentreLPS = centre.Scale(1 / float64(voxels))
		m.CentreOffsetMM = m.CentreLPS.Sub(p.CentreLPS).Norm()
		m.VolumeMM3 = float64(voxels) * vox
		m.VolumeRatio = m.VolumeMM3 / p.VolumeMM3()
		m.WithinTolerance = true
		if m.Findings > 1 {
			m.WithinTolerance = false
			r.Problems = append(r.Problems, fmt.Sprintf("the %s lesion was found as %d pieces, expected one", p.Name, m.Findings))
		}
		if lim := MaxCentreOffset * p.DiameterMM; m.CentreOffsetMM > lim {
			m.WithinTolerance = false
			r.Problems = append(r.Problems, fmt.Sprintf("the %s lesion was found %.1f mm from where it was put (at most %.1f mm allowed)", p.Name, m.CentreOffsetMM, lim))
		}
		if m.VolumeRatio < MinVolumeRatio || m.VolumeRatio > MaxVolumeRatio {
			m.WithinTolerance = false
			r.Problems = append(r.Problems, fmt.Sprintf("the %s lesion was found with %.0f mm3, %.2f× its volume (expected %.2f× to %.2f×)", p.Name, m.VolumeMM3, m.VolumeRatio, MinVolumeRatio, MaxVolumeRatio))
		}
		r.Lesions = append(r.Lesions, m)
	}
	for li, l := range f.Lesions {
		if matched[li] {
			continue
		}
		e := Extra{CentreLPS: l.CentreLPS, VolumeMM3: float64(len(l.Voxels)) * vox}
		for _, v := range ph.Vessels {
			if segmentDistance(l.CentreLPS, v.From, v.To) <= v.RadiusMM+3 {
				e.Vessel = v.Name
			}
		}
		r.Extra = append(r.Extra, e)
	}
	if len(r.Extra) > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d finding(s) where the phantom has no lesion (expected none)", len(r.Extra)))
	}
	r.Passed = len(r.Problems) == 0
	return r
}

// touches reports whether one of the voxels (flat indices on g) lies within
// reach mm of c.
func touches(voxels []int, g geom.Grid, c geom.Vec3, reach float64) bool {
	nx, ny := g.Dims[0], g.Dims[1]
	for _, v := range voxels {
		i, j, k := v%nx, (v/nx)%ny, v/(nx*ny)
		if g.Affine.Apply(geom.Vec3{float64(i), float64(j), float64(k)}).Sub(c).Norm() <= reach {
			return true
		}
	}
	return false
}
