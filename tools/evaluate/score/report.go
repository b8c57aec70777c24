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
	SpeedReference string `json:"speed_reference,omitempty"`
	// Backgrounds are the real brains the split's cases were drawn from
	// (the phantom's many-backgrounds generator); empty for the classic
	// Colin27 phantom. SplitBy says what the splits hold apart ("brain":
	// train, val and test never share one).
	Backgrounds []string `json:"backgrounds,omitempty"`
	SplitBy     string   `json:"split_by,omitempty"`
	// Locations are the classes false positives were placed in
	// (CaseResult.FPByLocation), in table order, and LocationRule how;
	// empty when they were not placed.
	Locations    []string    `json:"locations,omitempty"`
	LocationRule string      `json:"location_rule,omitempty"`
	Summary      Summary     `json:"summary"`
	FROC         []FROCPoint `json:"froc,omitempty"`
	// ByBrain is the summary of each brain's cases (with Backgrounds).
	ByBrain []GroupSummary `json:"by_brain,omitempty"`
	// Comparison is the same cases run again on other input (bright-only
	// beside VISIBLE); nil when they were not.
	Comparison *Arm         `json:"comparison,omitempty"`
	Cases      []CaseResult `json:"cases"`
}

// Arm is one more run of a report's cases on other input: its operating
// point, summary, FROC points and cases, so two inputs can be read and
// plotted side by side.
type Arm struct {
	// Input says what the detector saw (InputBrightOnly, say).
	Input     string         `json:"input"`
	Threshold float64        `json:"threshold"`
	Summary   Summary        `json:"summary"`
	FROC      []FROCPoint    `json:"froc,omitempty"`
	ByBrain   []GroupSummary `json:"by_brain,omitempty"`
	Cases     []CaseResult   `json:"cases"`
}

// ByBackground is a CaseResult's brain, for SummarizeBy.
func ByBackground(r CaseResult) string { return r.Background }

// SplitByBrain is Report.SplitBy for the many-backgrounds generator.
const SplitByBrain = "brain"

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
	if len(r.Backgrounds) > 0 {
		fmt.Fprintf(&b, "- brains of the %s split: %s", r.Split, strings.Join(r.Backgrounds, ", "))
		if r.SplitBy == SplitByBrain {
			b.WriteString(" (splits are by brain: train, val and test never share a brain)")
		}
		b.WriteString("\n")
	}
	if r.Input != "" {
		fmt.Fprintf(&b, "- input: **%s**\n", r.Input)
	}
	if r.Comparison != nil {
		fmt.Fprintf(&b, "- compared with: **%s**, threshold %.3g, the same studies\n", r.Comparison.Input, r.Comparison.Threshold)
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
	if r.Comparison != nil {
		b.WriteString(r.comparisonMarkdown())
	}
	if len(r.ByBrain) > 0 {
		fmt.Fprintf(&b, "## Per brain\n\n")
		if r.Comparison != nil {
			fmt.Fprintf(&b, "%s\n\n", shortInput(r.Input))
		}
		fmt.Fprintf(&b, "%s\n", BrainsMarkdown(r.ByBrain))
		if r.Comparison != nil && len(r.Comparison.ByBrain) > 0 {
			fmt.Fprintf(&b, "%s\n\n%s\n", shortInput(r.Comparison.Input), BrainsMarkdown(r.Comparison.ByBrain))
		}
	}
	if len(r.Locations) > 0 {
		fmt.Fprintf(&b, "## False positives by location\n\nPer study whose false positives were placed (count in brackets; a study where no brain mask was found is left out); %s.\n\n", r.LocationRule)
		all := []GroupSummary{{Group: "all", Summary: s}}
		if r.Comparison != nil {
			fmt.Fprintf(&b, "%s\n\n", shortInput(r.Input))
		}
		fmt.Fprintf(&b, "%s\n", LocationsMarkdown(r.Locations, append(all, r.ByBrain...)))
		if c := r.Comparison; c != nil {
			all := []GroupSummary{{Group: "all", Summary: c.Summary}}
			fmt.Fprintf(&b, "%s\n\n%s\n", shortInput(c.Input), LocationsMarkdown(r.Locations, append(all, c.ByBrain...)))
		}
	}
	b.WriteString(frocMarkdown("FROC", r.FROC, s.VesselsKnown))
	if r.Comparison != nil {
		b.WriteString(frocMarkdown("FROC, "+shortInput(r.Comparison.Input), r.Comparison.FROC, r.Comparison.Summary.VesselsKnown))
	}
	if s.VesselsKnown {
		fmt.Fprintf(&b, "## Cases\n\n| case | lesions | found | FP | FP on vessels | FP on plexus / pituitary | flagged | lesion Dice | seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	} else {
		fmt.Fprintf(&b, "## Cases\n\n| case | lesions | found | FP | flagged | lesion Dice | seconds |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	}
	for _, c := range r.Cases {
		id := c.ID
		if c.Background != "" {
			id += " (" + c.Background + ")"
		}
		if s.VesselsKnown {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %v | %.3f | %.2f |\n", id, len(c.Lesions), c.Hits, c.FP, c.FPOnVessel, c.FPOnGland, c.Flagged, c.LesionDice, c.Seconds)
		} else {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %v | %.3f | %.2f |\n", id, len(c.Lesions), c.Hits, c.FP, c.Flagged, c.LesionDice, c.Seconds)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// frocMarkdown is the FROC table under title ("" without points).
func frocMarkdown(title string, pts []FROCPoint, vessels bool) string {
	if len(pts) == 0 {
		return ""
	}
	var b strings.Builder
	head := []string{"threshold", "sensitivity", "FP per case"}
	if vessels {
		head = append(head, "FP on vessels per case")
	}
	// The flag's specificity at each threshold, where lesion-free cases were scored.
	neg := pts[0].NegativeCases > 0
	if neg {
		head = append(head, "study flag specificity")
	}
	fmt.Fprintf(&b, "## %s\n\n| %s |\n|%s\n", title, strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, p := range pts {
		fmt.Fprintf(&b, "| %.3g | %s | %.2f |", p.Threshold, pct(p.Sensitivity), p.FPPerCase)
		if vessels {
			fmt.Fprintf(&b, " %.2f |", p.FPOnVesselPerCase)
		}
		if neg {
			fmt.Fprintf(&b, " %s |", pctOf(p.StudySpecificity, p.NegativeCases))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}

// shortInput is the first word of an input description ("VISIBLE",
// "bright-only"), for column heads and legends.
func shortInput(in string) string {
	if f := strings.Fields(in); len(f) > 0 {
		return f[0]
	}
	return "input"
}

// comparisonMarkdown puts the operating points of the report's input and
// of its comparison side by side.
func (r *Report) comparisonMarkdown() string {
	a, c := r.Summary, r.Comparison.Summary
	var b strings.Builder
	fmt.Fprintf(&b, "## %s against %s (operating points, the same %d studies)\n\n", shortInput(r.Input), shortInput(r.Comparison.Input), a.Cases)
	fmt.Fprintf(&b, "| metric | %s | %s |\n| --- | --- | --- |\n", shortInput(r.Input), shortInput(r.Comparison.Input))
	row := func(name string, f func(s Summary) string) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, f(a), f(c))
	}
	fmt.Fprintf(&b, "| threshold | %.3g | %.3g |\n", r.Threshold, r.Comparison.Threshold)
	row("lesion-wise sensitivity", func(s Summary) string {
		return fmt.Sprintf("%s (%d/%d)", pctOf(s.Sensitivity, s.Lesions), s.Hits, s.Lesions)
	})
	for i, bin := range Bins {
		row("sensitivity "+bin, func(s Summary) string {
			if i >= len(s.Bins) {
				return "n/a"
			}
			st := s.Bins[i]
			return fmt.Sprintf("%s (%d/%d)", pctOf(st.Sensitivity, st.Lesions), st.Hits, st.Lesions)
		})
	}
	row("false positives per study", func(s Summary) string { return fmt.Sprintf("%.2f (%d)", s.FPPerCase, s.FP) })
	if a.VesselsKnown && c.VesselsKnown {
		row("false positives on vessels per study", func(s Summary) string {
			return fmt.Sprintf("%.2f (%d, %s)", s.FPOnVesselPerCase, s.FPOnVessel, pctOf(ratio(s.FPOnVessel, s.FP), s.FP))
		})
		row("false positives on choroid plexus / pituitary per study", func(s Summary) string { return fmt.Sprintf("%.2f (%d)", s.FPOnGlandPerCase, s.FPOnGland) })
	}
	row("study flag sensitivity", func(s Summary) string {
		return fmt.Sprintf("%s (%d cases with lesions)", pctOf(s.StudySensitivity, s.PositiveCases), s.PositiveCases)
	})
	row("study flag specificity", func(s Summary) string {
		return fmt.Sprintf("%s (%d lesion-free cases)", pctOf(s.StudySpecificity, s.NegativeCases), s.NegativeCases)
	})
	row("lesion-wise Dice", func(s Summary) string { return fmt.Sprintf("%.3f", s.LesionDice) })
	row("seconds per study", func(s Summary) string { return fmt.Sprintf("%.2f", s.SecondsPerStudy) })
	b.WriteString("\n")
	return b.String()
}

// PlotFROC draws the FROC curve (sensitivity against false positives per
// case) as a PNG, with the operating point marked. With a Comparison that
// has FROC points, its curve and operating point are drawn on the same axes
// in another colour, and the legend names each curve's input.
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
	type curve struct {
		froc       []FROCPoint
		op         Summary
		threshold  float64
		label      string
		opLabel    string
		line, mark color.RGBA
	}
	curves := []curve{{r.FROC, r.Summary, r.Threshold, r.Detector, "operating point", color.RGBA{B: 200, A: 255}, color.RGBA{R: 220, A: 255}}}
	if c := r.Comparison; c != nil && len(c.FROC) > 0 {
		// the inputs name the curves (the detector is in report.md: its
		// name is long and may describe a stage only one input gets)
		curves[0].label = shortInput(r.Input)
		curves[0].opLabel = shortInput(r.Input) + " operating point"
		curves = append(curves, curve{c.FROC, c.Summary, c.Threshold, shortInput(c.Input), shortInput(c.Input) + " operating point",
			color.RGBA{R: 230, G: 120, A: 255}, color.RGBA{R: 120, G: 60, B: 140, A: 255}})
	}
	maxFP := 0.0
	for n, cv := range curves {
		// sort by FP so the line runs left to right
		fr := append([]FROCPoint(nil), cv.froc...)
		sort.Slice(fr, func(i, j int) bool {
			return fr[i].FPPerCase < fr[j].FPPerCase || fr[i].FPPerCase == fr[j].FPPerCase && fr[i].Sensitivity < fr[j].Sensitivity
		})
		pts := make(plotter.XYs, len(fr))
		for i, f := range fr {
			pts[i].X, pts[i].Y = f.FPPerCase, f.Sensitivity
			maxFP = math.Max(maxFP, f.FPPerCase)
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("score: froc: %w", err)
		}
		line.Color = cv.line
		line.Width = vg.Points(1.5)
		scatter, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("score: froc: %w", err)
		}
		scatter.GlyphStyle.Shape = draw.CircleGlyph{}
		scatter.GlyphStyle.Radius = vg.Points(2.5)
		if n > 0 {
			scatter.GlyphStyle.Color = cv.line
		}
		p.Add(line, scatter)
		if n == 0 {
			p.Add(plotter.NewGrid())
		}
		op := plotter.XYs{{X: cv.op.FPPerCase, Y: cv.op.Sensitivity}}
		if s, err := plotter.NewScatter(op); err == nil {
			s.GlyphStyle.Shape = draw.CrossGlyph{}
			s.GlyphStyle.Radius = vg.Points(6)
			s.GlyphStyle.Color = cv.mark
			p.Add(s)
			p.Legend.Add(fmt.Sprintf("%s (threshold %.3g)", cv.opLabel, cv.threshold), s)
		}
		p.Legend.Add(cv.label, line)
	}
	p.X.Max = math.Max(1, maxFP*1.05)
	p.Legend.Top = false
	p.Legend.Left = false
	wt, err := p.WriterTo(6*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("score: froc: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}
