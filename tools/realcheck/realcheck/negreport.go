package realcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// NegDataStatement heads every negatives report.
const NegDataStatement = "Real brains with **nothing inserted**: every lesion the model reports is a false positive, except those on a glioma " +
	"(left out, counted apart). None of these brains was used to train or tune the model except Colin27, which **was** the phantom's " +
	"only training background (its anatomy, with drawn vessels). The non-contrast heads are examined as if they were post-contrast " +
	"studies without any simulated enhancement: their rows say nothing about enhancing vessels, only about the rest of the head."

// NegHeader is the scoreboard table's header row; its cells are the
// columns every row fills.
var NegHeader = append(append([]string{"brain", "image", "input", "false positives"}, Locations...), "median size (voxels)", "single voxel", "left out (on the tumour)", "network s")

// WriteNegatives writes negatives.md and negatives.json into dir.
func (r *NegReport) WriteNegatives(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "negatives.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "negatives.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("realcheck: %w", err)
	}
	return nil
}

// Markdown is the scoreboard as markdown: the data statement, the table
// (one row per brain and input), the summary against issue 23's target, the
// rules, and every false positive.
func (r *NegReport) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Model
	w("# Real negatives: %s %s (%s)\n\n", m.Name, m.Version, m.Precision)
	w("%s\n\n", NegDataStatement)
	w("Model manifest `%s`, its own operating points (network threshold %.4g, smallest component %.3g mm³; a manifest's second stage for the input kind, VISIBLE or bright-only, decides as in the appliance). ",
		m.Manifest, m.Threshold, m.MinComponentMM3)
	w("Chain as in the appliance: firmware/volume.Prepare → runtime/infer.Predict → detect.OperatingMap → detect.GateBrain (findings mostly outside the brain dropped) → detect.Find on the model grid.\n\n")

	w("| %s |\n|%s\n", strings.Join(NegHeader, " | "), strings.Repeat(" --- |", len(NegHeader)))
	for _, row := range r.Rows {
		cells := []string{row.Brain, row.Contrast, row.Input, fmt.Sprintf("**%d**", len(row.Findings))}
		var sizes []int
		single := 0
		for _, f := range row.Findings {
			sizes = append(sizes, f.Voxels)
			if f.Voxels == 1 {
				single++
			}
		}
		for _, l := range Locations {
			cells = append(cells, fmt.Sprint(row.Count(l)))
		}
		left := "—"
		for _, bg := range r.Backgrounds {
			if bg.Name == row.Brain && bg.TumourRule != "" {
				left = fmt.Sprint(row.LeftOut)
			}
		}
		cells = append(cells, fmt.Sprintf("%.0f", median(sizes)), fmt.Sprint(single), left, fmt.Sprintf("%.1f", row.Seconds))
		w("| %s |\n", strings.Join(cells, " | "))
	}
	w("\n")
	w("Issue 23's target for real negatives: at most 0.3 false positives per brain on average, and no brain above 1.\n\n")
	for _, s := range r.Summarise() {
		met := "**not met**"
		if MeetsTarget(s.MeanFP, s.Above1) {
			met = "met"
		}
		w("- %s: %.1f false positives per brain (%d brains), %d above 1, most %d; median size %.0f voxels; target %s.\n",
			s.Input, s.MeanFP, s.Brains, s.Above1, s.Max, s.MedianVoxels, met)
	}
	if len(r.Levels) > 0 {
		r.levelsMarkdown(w)
	}
	w("\n## The brains\n\n")
	w("| brain | what | grid | brain mask | brain (cm³) | tissue levels CSF / GM / WM / top | blood suppressed in black (cm³) | tumour mask |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, bg := range r.Backgrounds {
		blood := "none (non-contrast)"
		if bg.PostContrast {
			blood = fmt.Sprintf("%.1f", bg.BloodCM3)
		}
		tumour := "none"
		if bg.TumourRule != "" {
			tumour = bg.TumourRule
		}
		w("| %s | %s | %v at %.2f×%.2f×%.2f mm | %s | %.0f | %.0f / %.0f / %.0f / %.0f | %s | %s |\n", bg.Name, bg.Source, bg.StudyDims,
			bg.Spacing[0], bg.Spacing[1], bg.Spacing[2], bg.BrainRule, bg.BrainCM3, bg.Levels.CSF, bg.Levels.GM, bg.Levels.WM, bg.Levels.Top, blood, tumour)
	}
	p := r.Params
	w("\n## Rules\n\n")
	w("- %s\n", BlackRule)
	w("- Bright-only: the real image alone; the black channel is zeroed by firmware/volume.Prepare (the manifest allows bright-only studies).\n")
	w("- A lesion touching the tumour mask widened by %.3g mm is the tumour's and is left out.\n", p.TumourMarginMM)
	w("- Where a false positive falls (its voxels mapped to the study grid, nearest voxel; first match): %s when at least half its voxels are outside the brain mask and its centre lies in the lowest %.0f%% of the brain mask's height; "+
		"%s when at least half are outside otherwise; %s when at least half are outside or within %.3g mm of the brain mask's edge; "+
		"%s when a third lie within %.3g mm of ventricle CSF (brain voxels darker than midway between the CSF and GM levels, at least %.3g mm inside the mask, in connected pieces of at least %.3g cm³; deep veins there count too); "+
		"%s when a third enhance (z(t1c) − z(t1n) ≥ %.3g, robust z-scores in the brain; post-contrast brains only); %s when a third are bright (z ≥ %.3g) without that; else %s.\n\n",
		LocSkullBase, 100*p.SkullBaseFraction, LocOutside, LocEdge, p.EdgeMM, LocChoroid, p.ChoroidMM, p.DeepMM, p.VentricleMM3/1000, LocVessel, p.EnhanceZ, LocBright, p.BrightZ, LocOther)

	w("## Every false positive\n\n")
	for _, row := range r.Rows {
		if len(row.Findings) == 0 {
			continue
		}
		w("### %s, %s\n\n", row.Brain, row.Input)
		w("| # | where | voxels | mm³ | diameter (mm) | score | centre (LPS mm) | in words | outside / edge / choroid / enhancing / bright |")
		aal := false
		for _, f := range row.Findings {
			aal = aal || f.AAL != ""
		}
		if aal {
			w(" AAL |")
		}
		w("\n|%s\n", strings.Repeat(" --- |", 9+btoi(aal)))
		for i, f := range row.Findings {
			w("| %d | %s | %d | %.0f | %.1f | %.3f | %s | %s | %.0f / %.0f / %.0f / %.0f / %.0f%% |", i+1, f.Where, f.Voxels, f.VolumeMM3, f.LongestDiameterMM, f.Score,
				vec(f.CentreLPS), f.Words, 100*f.Outside, 100*f.Edge, 100*f.Choroid, 100*f.Enhancing, 100*f.Bright)
			if aal {
				w(" %s |", f.AAL)
			}
			w("\n")
		}
		w("\n")
	}
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// levelsMarkdown writes the false positives at the report's other levels:
// per brain and input, then the mean and the target per input.
func (r *NegReport) levelsMarkdown(w func(string, ...any)) {
	w("\n## At other levels of the operating map\n\n")
	w("The same studies, each one's operating map (the second stage's score where the manifest has a stage for the input kind, else the network's probability) gated and cut afresh at each level, the manifest's smallest component kept.\n\n")
	head := []string{"brain", "input"}
	for _, t := range r.Levels {
		head = append(head, fmt.Sprintf("%g", t))
	}
	w("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, row := range r.Rows {
		cells := []string{row.Brain, row.Input}
		for _, c := range row.ByLevel {
			cells = append(cells, fmt.Sprint(c.FalsePositives))
		}
		w("| %s |\n", strings.Join(cells, " | "))
	}
	sums := r.SummariseLevels()
	for _, in := range []string{InputVisibleLike, InputBrightOnly} {
		mean, met := []string{"**mean per brain**", in}, []string{"**target met**", in}
		for _, s := range sums {
			if s.Input != in {
				continue
			}
			mean = append(mean, fmt.Sprintf("%.2f", s.MeanFP))
			met = append(met, map[bool]string{true: "yes", false: "no"}[s.Met])
		}
		if len(mean) > 2 {
			w("| %s |\n| %s |\n", strings.Join(mean, " | "), strings.Join(met, " | "))
		}
	}
}
