package realcheck

import (
	"fmt"

	"metsentry/firmware/volume"
)

// BlackRule says how DeriveBlack makes the black-blood image from a real
// one; reports quote it.
const BlackRule = "Black-blood image derived from the real image as tools/phantom derives its black channel from Colin27: " +
	"each voxel's value v is multiplied by the phantom's black/bright signal ratio at v's tissue level (piecewise linear through " +
	"the mid-points of the phantom's draws: 0.5 at CSF, 1.11 at GM, 1.0 at WM, 0.85 at the 99.5th percentile; levels from a 3-class " +
	"k-means in the brain mask). On a real post-contrast brain flowing blood is then suppressed: blood fraction " +
	"w = clamp((z(t1c) − z(t1n) − 1.5) / 3, 0, 1) (robust z-scores in the brain), black = (1 − w)·black + w·b·WM with " +
	"b = 0.15 (the phantom's arteries and veins, 0.04–0.25) or b = 0.55 within 3 mm of the brain edge (the phantom's residual " +
	"signal in sinuses, 0.3–0.8); the choroid plexus zone and the tumour keep their tissue ratio (enhancing tissue stays bright " +
	"in black-blood, as the phantom's glands). A non-contrast head has no enhancement and gets no suppression."

// phantom mid-point signal levels (tools/phantom render.drawContrast), ×
// white matter, bright and black, at CSF, GM and WM; and at the top
// percentile, relative to the top.
var (
	phBright = [4]float64{0.25, 0.74, 1.0, 0.975}
	phBlack  = [4]float64{0.125, 0.82, 1.0, 0.825}
)

// blackRatio is the phantom's black/bright ratio at intensity v.
func blackRatio(t TissueLevels, v float64) float64 {
	k := [5]float64{0, t.CSF, t.GM, t.WM, t.Top}
	r := [5]float64{phBlack[0] / phBright[0], phBlack[0] / phBright[0], phBlack[1] / phBright[1], phBlack[2] / phBright[2], phBlack[3] / phBright[3]}
	if v <= k[0] {
		return r[0]
	}
	for i := 1; i < 5; i++ {
		if v <= k[i] {
			f := (v - k[i-1]) / (k[i] - k[i-1])
			return r[i-1] + f*(r[i]-r[i-1])
		}
	}
	return r[4]
}

// DeriveBlack returns the black-blood image of b (BlackRule) and the blood
// fraction it suppressed, per voxel (nil for a non-contrast head). m are
// b's masks (Masks).
func DeriveBlack(b *Background, m *Masks) (*volume.Volume, []float32, error) {
	img := b.Image.Data
	out := make([]float32, len(img))
	t := m.Levels
	for i, v := range img {
		out[i] = float32(float64(v) * blackRatio(t, float64(v)))
	}
	var blood []float32
	if b.PostContrast {
		if m.Enhancement == nil {
			return nil, nil, fmt.Errorf("realcheck: %s: a post-contrast brain needs its pre-contrast image to find the enhancing blood", b.Name)
		}
		blood = make([]float32, len(img))
		for i := range img {
			if m.Brain[i] == 0 || m.Choroid[i] != 0 || (m.TumourZone != nil && m.TumourZone[i] != 0) {
				continue
			}
			w := min(max((float64(m.Enhancement[i])-1.5)/3, 0), 1)
			if w == 0 {
				continue
			}
			lvl := 0.15
			if m.Edge[i] != 0 {
				lvl = 0.55
			}
			out[i] = float32((1-w)*float64(out[i]) + w*lvl*t.WM)
			blood[i] = float32(w)
		}
	}
	return &volume.Volume{Grid: b.Image.Grid, Data: out}, blood, nil
}
