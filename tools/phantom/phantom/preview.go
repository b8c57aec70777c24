package phantom

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"sort"
)

// Preview draws a picture for people: the middle axial slice (through the
// largest lesion when there is one) of both channels with the truth contours,
// a sagittal slice, and a close-up of the smallest lesion that touches a
// vessel (or the smallest lesion), both channels side by side.
func Preview(w io.Writer, c *Case) error {
	nx, ny, nz := c.Grid.Dims[0], c.Grid.Dims[1], c.Grid.Dims[2]
	lev := windowLevel(c.Bright)
	levK := windowLevel(c.Black)
	k := nz / 2
	// the close-up: the small lesion with the most vessel voxels (bright in
	// bright-blood, dark in black-blood) around it in its own slice
	var small *Lesion
	bestScore := -1
	for i := range c.Lesions {
		l := &c.Lesions[i]
		if l.LongestDiameterMM >= 10 && small != nil {
			continue
		}
		ci, cj, ck := int(math.Round(l.CentreVoxel[0])), int(math.Round(l.CentreVoxel[1])), int(math.Round(l.CentreVoxel[2]))
		score := 0
		r := int(l.LongestDiameterMM/2) + 6
		for dj := -r; dj <= r; dj++ {
			for di := -r; di <= r; di++ {
				x, y := ci+di, cj+dj
				if x < 0 || y < 0 || x >= nx || y >= ny || ck < 0 || ck >= nz {
					continue
				}
				idx := x + nx*(y+ny*ck)
				if c.Labels[idx] == 0 && c.Bright[idx] > 0.5*lev && c.Black[idx] < 0.6*c.Bright[idx] {
					score++
				}
			}
		}
		if l.LongestDiameterMM < 10 {
			score += 1000 // prefer small lesions
		}
		if score > bestScore {
			small, bestScore = l, score
		}
	}
	// the slice near the middle that shows the most lesions
	bestN := 0
	for kk := nz/2 - 30; kk <= nz/2+30; kk++ {
		if kk < 0 || kk >= nz {
			continue
		}
		seen := map[uint16]bool{}
		for i := nx * ny * kk; i < nx*ny*(kk+1); i++ {
			if c.Labels[i] != 0 {
				seen[c.Labels[i]] = true
			}
		}
		if len(seen) > bestN {
			bestN, k = len(seen), kk
		}
	}
	const zoom = 4
	crop := 32
	W := 2*nx + 4
	H := ny + 4 + nz + 4 + 2*crop*zoom/2
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	axial := func(vol []float32, lv float32, x0, y0, kk int) {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				idx := i + nx*(j+ny*kk)
				g := gray(vol[idx], lv)
				col := color.RGBA{g, g, g, 255}
				if c.Labels[idx] != 0 && isEdge(c, i, j, kk) {
					col = color.RGBA{255, 40, 40, 255}
				}
				img.Set(x0+i, y0+j, col)
			}
		}
	}
	axial(c.Black, levK, 0, 0, k)
	axial(c.Bright, lev, nx+4, 0, k)
	// sagittal, superior at the top
	i0 := nx / 2
	for _, pair := range []struct {
		vol []float32
		lv  float32
		x0  int
	}{{c.Black, levK, 0}, {c.Bright, lev, nx + 4}} {
		for kk := 0; kk < nz; kk++ {
			for j := 0; j < ny; j++ {
				idx := i0 + nx*(j+ny*kk)
				g := gray(pair.vol[idx], pair.lv)
				col := color.RGBA{g, g, g, 255}
				if c.Labels[idx] != 0 {
					col = color.RGBA{255, 40, 40, 255}
				}
				img.Set(pair.x0+j, ny+4+(nz-1-kk), col)
			}
		}
	}
	if small != nil {
		ci, cj, ck := int(math.Round(small.CentreVoxel[0])), int(math.Round(small.CentreVoxel[1])), int(math.Round(small.CentreVoxel[2]))
		y0 := ny + 4 + nz + 4
		half := crop / 2
		for side, pair := range []struct {
			vol []float32
			lv  float32
		}{{c.Black, levK}, {c.Bright, lev}} {
			x0 := side * (nx + 4)
			for dj := -half; dj < half; dj++ {
				for di := -half; di < half; di++ {
					i, j := ci+di, cj+dj
					if i < 0 || j < 0 || i >= nx || j >= ny {
						continue
					}
					idx := i + nx*(j+ny*ck)
					g := gray(pair.vol[idx], pair.lv)
					col := color.RGBA{g, g, g, 255}
					for yy := 0; yy < zoom; yy++ {
						for xx := 0; xx < zoom; xx++ {
							img.Set(x0+(di+half)*zoom+xx, y0+(dj+half)*zoom+yy, col)
						}
					}
				}
			}
		}
	}
	if small != nil {
		// red corner brackets around the lesion in both close-ups, so the
		// lesion itself stays unmarked
		r := int(math.Ceil(small.LongestDiameterMM/2/c.Grid.Spacing()[0])) + 2
		red := color.RGBA{255, 40, 40, 255}
		y0 := ny + 4 + nz + 4
		half := crop / 2
		for side := 0; side < 2; side++ {
			cx := side*(nx+4) + half*zoom + zoom/2
			cy := y0 + half*zoom + zoom/2
			lo, hi := -r*zoom, r*zoom
			for t := 0; t < 2*zoom; t++ {
				for _, p := range [][2]int{{lo + t, lo}, {lo, lo + t}, {hi - t, lo}, {hi, lo + t}, {lo + t, hi}, {lo, hi - t}, {hi - t, hi}, {hi, hi - t}} {
					img.Set(cx+p[0], cy+p[1], red)
				}
			}
		}
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("phantom: preview: %w", err)
	}
	return nil
}

func isEdge(c *Case, i, j, k int) bool {
	nx, ny := c.Grid.Dims[0], c.Grid.Dims[1]
	v := c.Labels[i+nx*(j+ny*k)]
	for _, d := range [][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
		x, y := i+d[0], j+d[1]
		if x < 0 || y < 0 || x >= nx || y >= ny || c.Labels[x+nx*(y+ny*k)] != v {
			return true
		}
	}
	return false
}

// windowLevel returns the display maximum: the 99.7th percentile of the
// non-background voxels.
func windowLevel(v []float32) float32 {
	var s []float32
	for i := 0; i < len(v); i += 7 {
		if v[i] > 150 {
			s = append(s, v[i])
		}
	}
	if len(s) == 0 {
		return 1
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(0.997*float64(len(s)-1))]
}

func gray(v, max float32) uint8 {
	g := v / max * 255
	if g > 255 {
		g = 255
	}
	if g < 0 {
		g = 0
	}
	return uint8(g)
}
