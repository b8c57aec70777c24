package score

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Report is what an evaluation run writes: on what data, with which
// detector, and the numbers.
type Report struct {
	// Data says what the numbers were measured on, in words.
	Data      string `json:"data"`
	Split     string `json:"split"`
	Generator string `json:"generator"`
	// Seeds are the phantom seeds of the cases, in order.
	Seeds     []uint64 `json:"seeds"`
	Detector  string   `json:"detector"`
	Threshold float64  `json:"threshold"`
	Mode      string   `json:"mode"` // in-process, e2e, files
	// Input says which images the detector saw: InputVISIBLE or
	// InputBrightOnly (empty in files mode: not known).
	Input string `json:"input,omitempty"`
	// VesselRule says how false positives on vessels were called (empty
	// when they were not: the summary's VesselsKnown is false then).
	VesselRule string `json:"vessel_rule,omitempty"`
	// SpeedReference names the fixed workload timed after every study
	// (CaseResult.ReferenceSeconds); empty when none was.
	SpeedReference string       `json:"speed_reference,omitempty"`
	Summary        Summary      `json:"summary"`
	FROC           []FROCPoint  `json:"froc,omitempty"`
	Cases          []CaseResult `json:"cases"`
}

// What the detector saw (Report.Input).
const (
	InputVISIBLE    = "VISIBLE (black-blood and bright-blood)"
	InputBrightOnly = "bright-only (post-contrast 3D T1 bright-blood; black-blood series withheld, its channel zeroed)"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// SeedRange prints seeds compactly: "0-19" or "0-4,9".
func SeedRange(seeds []uint64) string {
	s := append([]uint64(nil), seeds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// pctOf is pct for a share of n things; with none there is no share to give.
func pctOf(x float64, n int) string {
	if n == 0 {
		return "n/a"
	}
	return pct(x)
}

// WriteMarkdown writes the report as a Markdown table for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	s := r.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "# Detection scoreboard\n\n")
	fmt.Fprintf(&b, "- data: %s\n- split: **%s**, generator **%s**, seeds %s (%d cases)\n- detector: %s, threshold %.3g, mode %s\n",
		r.Data, r.Split, r.Generator, SeedRange(r.Seeds), len(r.Seeds), r.Detector, r.Threshold, r.Mode)
	if r.Input != "" {
		fmt.Fprintf(&b, "- input: **%s**\n", r.Input)
	}
	if s.VesselsKnown && r.VesselRule != "" {
		fmt.Fprintf(&b, "- false positives on vessels: %s\n", r.VesselRule)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "| metric | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| lesion-wise sensitivity | %s (%d/%d) |\n", pct(s.Sensitivity), s.Hits, s.Lesions)
	fmt.Fprintf(&b, "| false positives per case | %.2f (%d in %d cases) |\n", s.FPPerCase, s.FP, s.Cases)
	if s.VesselsKnown {
		fmt.Fprintf(&b, "| false positives on vessels per case | %.2f (%d, %s of false positives) |\n", s.FPOnVesselPerCase, s.FPOnVessel, pctOf(ratio(s.FPOnVessel, s.FP), s.FP))
		fmt.Fprintf(&b, "| false positives on choroid plexus / pituitary per case | %.2f (%d, %s of false positives) |\n", s.FPOnGlandPerCase, s.FPOnGland, pctOf(ratio(s.FPOnGland, s.FP), s.FP))
	}
	for _, bs := range s.Bins {
		fmt.Fprintf(&b, "| sensitivity %s | %s (%d/%d) |\n", bs.Bin, pctOf(bs.Sensitivity, bs.Lesions), bs.Hits, bs.Lesions)
	}
	fmt.Fprintf(&b, "| study flag sensitivity | %s (%d cases with lesions) |\n", pctOf(s.StudySensitivity, s.PositiveCases), s.PositiveCases)
	fmt.Fprintf(&b, "| study flag specificity | %s (%d lesion-free cases) |\n", pctOf(s.StudySpecificity, s.NegativeCases), s.NegativeCases)
	fmt.Fprintf(&b, "| lesion-wise Dice | %.3f |\n", s.LesionDice)
	fmt.Fprintf(&b, "| seconds per study | %.2f (max %.2f) |\n", s.SecondsPerStudy, s.MaxSecondsPerCase)
	if r.SpeedReference != "" && s.StudyOverReference > 0 {
		fmt.Fprintf(&b, "| seconds per study over the speed reference's | %.3f (reference %.2f s, median; timed after each study: %s) |\n", s.StudyOverReference, s.ReferenceSeconds, r.SpeedReference)
	}
	b.WriteString("\n")
	if len(r.FROC) > 0 {
		if s.VesselsKnown {
			fmt.Fprintf(&b, "## FROC\n\n| threshold | sensitivity | FP per case | FP on vessels per case |\n| --- | --- | --- | --- |\n")
		} else {
			fmt.Fprintf(&b, "## FROC\n\n| threshold | sensitivity | FP per case |\n| --- | --- | --- |\n")
		}
		for _, p := range r.FROC {
			fmt.Fprintf(&b, "| %.3g | %s | %.2f |", p.Threshold, pct(p.Sensitivity), p.FPPerCase)
			if s.VesselsKnown {
				fmt.Fprintf(&b, " %.2f |", p.FPOnVesselPerCase)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if s.VesselsKnown {
		fmt.Fprintf(&b, "## Cases\n\n| case | lesions | found | FP | FP on vessels | FP on plexus / pituitary | flagged | lesion Dice | seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	} else {
		fmt.Fprintf(&b, "## Cases\n\n| case | lesions | found | FP | flagged | lesion Dice | seconds |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	}
	for _, c := range r.Cases {
		if s.VesselsKnown {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %v | %.3f | %.2f |\n", c.ID, len(c.Lesions), c.Hits, c.FP, c.FPOnVessel, c.FPOnGland, c.Flagged, c.LesionDice, c.Seconds)
		} else {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %v | %.3f | %.2f |\n", c.ID, len(c.Lesions), c.Hits, c.FP, c.Flagged, c.LesionDice, c.Seconds)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// PlotFROC draws the FROC curve (sensitivity against false positives per
// case) as a PNG, with the operating point marked.
func (r *Report) PlotFROC(w io.Writer) error {
	if len(r.FROC) == 0 {
		return fmt.Errorf("score: no FROC points to plot")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("FROC, %s split (%d cases), %s", r.Split, len(r.Seeds), r.Generator)
	p.X.Label.Text = "false positives per case"
	p.Y.Label.Text = "lesion-wise sensitivity"
	p.Y.Min, p.Y.Max = 0, 1
	p.X.Min = 0
	pts := make(plotter.XYs, len(r.FROC))
	// sort by FP so the line runs left to right
	fr := append([]FROCPoint(nil), r.FROC...)
	sort.Slice(fr, func(i, j int) bool {
		return fr[i].FPPerCase < fr[j].FPPerCase || fr[i].FPPerCase == fr[j].FPPerCase && fr[i].Sensitivity < fr[j].Sensitivity
	})
	maxFP := 0.0
	for i, f := range fr {
		pts[i].X, pts[i].Y = f.FPPerCase, f.Sensitivity
		maxFP = math.Max(maxFP, f.FPPerCase)
	}
	p.X.Max = math.Max(1, maxFP*1.05)
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("score: froc: %w", err)
	}
	line.Color = color.RGBA{B: 200, A: 255}
	line.Width = vg.Points(1.5)
	scatter, err := plotter.NewScatter(pts)
	if err != nil {
		return fmt.Errorf("score: froc: %w", err)
	}
	scatter.GlyphStyle.Shape = draw.CircleGlyph{}
	scatter.GlyphStyle.Radius = vg.Points(2.5)
	p.Add(line, scatter, plotter.NewGrid())
	op := plotter.XYs{{X: r.Summary.FPPerCase, Y: r.Summary.Sensitivity}}
	if s, err := plotter.NewScatter(op); err == nil {
		s.GlyphStyle.Shape = draw.CrossGlyph{}
		s.GlyphStyle.Radius = vg.Points(6)
		s.GlyphStyle.Color = color.RGBA{R: 220, A: 255}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("operating point (threshold %.3g)", r.Threshold), s)
	}
	p.Legend.Add(r.Detector, line)
	p.Legend.Top = false
	p.Legend.Left = false
	wt, err := p.WriterTo(6*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("score: froc: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}
