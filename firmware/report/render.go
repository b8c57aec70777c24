package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// NotForDiagnosticUse is burned into every secondary-capture image.
const NotForDiagnosticUse = "NOT FOR DIAGNOSTIC USE"

// palette gives each lesion number a colour that stands out on grey.
var palette = []color.RGBA{
	{255, 60, 60, 255}, {60, 220, 60, 255}, {80, 160, 255, 255},
	{255, 200, 0, 255}, {255, 80, 255, 255}, {0, 230, 230, 255},
}

func lesionColour(n int) color.RGBA { return palette[(n-1)%len(palette)] }

// window returns the grey-level window: the 1st and 99.5th percentiles of
// the (sub-sampled) image, so bright vessels or fat do not wash it out.
func window(img []float32) (lo, hi float32) {
	step := max(1, len(img)/100000)
	var s []float32
	for i := 0; i < len(img); i += step {
		s = append(s, img[i])
	}
	if len(s) == 0 {
		return 0, 1
	}
	slices.Sort(s)
	lo, hi = s[len(s)/100], s[len(s)*995/1000]
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}

// scaleFactor is how much slices are enlarged so that 7×13 text and one-pixel
// contours stay legible next to the anatomy.
const scaleFactor = 2

// renderSlice draws slice k of the source grid in grey with each lesion's
// outline in its colour and its number beside it.
func renderSlice(in *Input, k int, lo, hi float32, footer string) *image.RGBA {
	s := in.Source
	rows, cols := s.Rows, s.Columns
	img := image.NewRGBA(image.Rect(0, 0, cols*scaleFactor, rows*scaleFactor))
	base := k * rows * cols
	set := func(c, r int, col color.RGBA) {
		for dy := 0; dy < scaleFactor; dy++ {
			for dx := 0; dx < scaleFactor; dx++ {
				img.SetRGBA(c*scaleFactor+dx, r*scaleFactor+dy, col)
			}
		}
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			v := float32(0)
			if in.Image != nil {
				v = (in.Image[base+r*cols+c] - lo) / (hi - lo)
			}
			g := uint8(min(max(v, 0), 1) * 255)
			set(c, r, color.RGBA{g, g, g, 255})
		}
	}
	label := func(c, r int) uint16 {
		if c < 0 || r < 0 || c >= cols || r >= rows {
			return 0
		}
		return in.Labels[base+r*cols+c]
	}
	type box struct{ minC, minR, maxC, maxR int }
	boxes := map[uint16]*box{}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			n := label(c, r)
			if n == 0 {
				continue
			}
			b, ok := boxes[n]
			if !ok {
				b = &box{c, r, c, r}
				boxes[n] = b
			}
			b.minC, b.minR, b.maxC, b.maxR = min(b.minC, c), min(b.minR, r), max(b.maxC, c), max(b.maxR, r)
			// Outline drawn just outside the lesion, so the lesion itself stays visible.
			for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				cc, rr := c+d[0], r+d[1]
				if cc >= 0 && rr >= 0 && cc < cols && rr < rows && label(cc, rr) != n {
					set(cc, rr, lesionColour(int(n)))
				}
			}
		}
	}
	for n, b := range boxes {
		x := (b.maxC+2)*scaleFactor + 2
		y := (b.minR-1)*scaleFactor + 2
		drawText(img, x, max(y, 12), fmt.Sprint(n), lesionColour(int(n)), 2)
	}
	drawText(img, 4, 4, NotForDiagnosticUse, color.RGBA{255, 255, 0, 255}, 2)
	drawText(img, 4, img.Bounds().Dy()-17, footer, color.RGBA{255, 255, 255, 255}, 1)
	return img
}

// renderSummary draws the lesion table.
func renderSummary(in *Input) *image.RGBA {
	const w, h = 512, 512
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0, 0, 0, 255}}, image.Point{}, draw.Src)
	white := color.RGBA{255, 255, 255, 255}
	drawText(img, 8, 8, NotForDiagnosticUse, color.RGBA{255, 255, 0, 255}, 2)
	drawText(img, 8, 44, "metsentry: candidate brain metastases", white, 1)
	drawText(img, 8, 60, fmt.Sprintf("model %s %s", in.Algorithm.Name, in.Algorithm.Version), white, 1)
	y := 90
	if len(in.Lesions) == 0 {
		drawText(img, 8, y, "No candidate metastasis found.", color.RGBA{80, 255, 80, 255}, 2)
		return img
	}
	drawText(img, 8, y, fmt.Sprintf("%d candidate lesion(s):", len(in.Lesions)), white, 1)
	y += 20
	drawText(img, 8, y, "  #  diameter mm  volume mm3  max p  location", white, 1)
	y += 16
	for _, l := range in.Lesions {
		if y > h-40 {
			drawText(img, 8, y, fmt.Sprintf("... and %d more (see the SR)", len(in.Lesions)-l.Number+1), white, 1)
			break
		}
		line := fmt.Sprintf("%3d  %11.1f  %10.1f  %5.2f  %s", l.Number, l.LongestDiameterMM, l.VolumeMM3, l.MaxProb, l.Location)
		drawText(img, 8, y, line, lesionColour(l.Number), 1)
		y += 16
	}
	drawText(img, 8, h-20, "Location words are approximate (position in the head).", white, 1)
	return img
}

// drawText writes s with its top-left corner at (x, y), enlarged by scale,
// over a dark shadow so it reads on any background.
func drawText(dst *image.RGBA, x, y int, s string, col color.RGBA, scale int) {
	face := basicfont.Face7x13
	wdt := font.MeasureString(face, s).Ceil()
	hgt := face.Metrics().Height.Ceil()
	tmp := image.NewAlpha(image.Rect(0, 0, wdt, hgt))
	d := font.Drawer{Dst: tmp, Src: image.Opaque, Face: face, Dot: fixed.P(0, face.Metrics().Ascent.Ceil())}
	d.DrawString(s)
	for ty := 0; ty < hgt; ty++ {
		for tx := 0; tx < wdt; tx++ {
			if tmp.AlphaAt(tx, ty).A < 128 {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					px, py := x+tx*scale+dx, y+ty*scale+dy
					if (image.Point{px + 1, py + 1}).In(dst.Bounds()) {
						dst.SetRGBA(px+1, py+1, color.RGBA{0, 0, 0, 255})
					}
				}
			}
		}
	}
	for ty := 0; ty < hgt; ty++ {
		for tx := 0; tx < wdt; tx++ {
			if tmp.AlphaAt(tx, ty).A < 128 {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					px, py := x+tx*scale+dx, y+ty*scale+dy
					if (image.Point{px, py}).In(dst.Bounds()) {
						dst.SetRGBA(px, py, col)
					}
				}
			}
		}
	}
}

// rgbBytes returns the image as interleaved 8-bit RGB (PlanarConfiguration 0).
func rgbBytes(img *image.RGBA) []byte {
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.RGBAAt(x, y)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}
