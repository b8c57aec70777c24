package score

import (
	"fmt"
	"sort"
	"strings"
)

// GroupSummary is the Summary of the cases of one group: one real brain of
// the phantom's many backgrounds (issue 23: figures per brain, so a held-out
// brain's figures are read apart from the training brains').
type GroupSummary struct {
	Group string `json:"group"`
	Summary
}

// SummarizeBy splits the cases by groupOf (a case's brain, say) and
// summarises each group, in group name order. A case groupOf leaves "" falls
// in the group "(none)".
func SummarizeBy(rs []CaseResult, groupOf func(CaseResult) string) []GroupSummary {
	by := map[string][]CaseResult{}
	for _, r := range rs {
		g := groupOf(r)
		if g == "" {
			g = "(none)"
		}
		by[g] = append(by[g], r)
	}
	names := make([]string, 0, len(by))
	for g := range by {
		names = append(names, g)
	}
	sort.Strings(names)
	out := make([]GroupSummary, 0, len(names))
	for _, g := range names {
		out = append(out, GroupSummary{Group: g, Summary: Summarize(by[g])})
	}
	return out
}

// GroupHeader is the header row of GroupsMarkdown's table.
var GroupHeader = []string{"group", "studies", "lesions", "sensitivity", BinSmall, BinMedium, BinLarge,
	"FP / study", "FP on vessels / study", "FP on choroid plexus, pituitary / study", "other FP / study", "study specificity"}

// BrainHeader is the header row of BrainsMarkdown's table: GroupHeader's
// columns for a brain, with the study flag sensitivity added and the lesion
// Dice.
var BrainHeader = []string{"brain", "studies", "lesions", "sensitivity", BinSmall, BinMedium, BinLarge,
	"FP / study", "FP on vessels / study", "FP on choroid plexus, pituitary / study", "other FP / study",
	"study sensitivity", "study specificity", "lesion Dice"}

// GroupsMarkdown is a markdown table of groups: lesion sensitivity overall
// and per size bin, and false positives per study by where they fall
// (vessels, choroid plexus and pituitary, elsewhere; "n/a" where the cases
// carried no vessel map).
func GroupsMarkdown(gs []GroupSummary) string { return groupTable(gs, GroupHeader, false) }

// BrainsMarkdown is GroupsMarkdown for groups that are brains, with the
// study flag sensitivity and the lesion Dice as well (BrainHeader).
func BrainsMarkdown(gs []GroupSummary) string { return groupTable(gs, BrainHeader, true) }

// groupTable writes the rows under header; full adds the study flag
// sensitivity and the lesion Dice.
func groupTable(gs []GroupSummary, header []string, full bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, g := range gs {
		s := g.Summary
		cells := []string{g.Group, fmt.Sprint(s.Cases), fmt.Sprint(s.Lesions), pctOf(s.Sensitivity, s.Lesions)}
		for _, bin := range []string{BinSmall, BinMedium, BinLarge} {
			c := "—"
			for _, st := range s.Bins {
				if st.Bin == bin && st.Lesions > 0 {
					c = fmt.Sprintf("%.1f%% (%d/%d)", 100*st.Sensitivity, st.Hits, st.Lesions)
				}
			}
			cells = append(cells, c)
		}
		cells = append(cells, fmt.Sprintf("%.2f", s.FPPerCase))
		if s.VesselsKnown {
			other := float64(s.FP-s.FPOnVessel-s.FPOnGland) / float64(max(s.Cases, 1))
			cells = append(cells, fmt.Sprintf("%.2f", s.FPOnVesselPerCase), fmt.Sprintf("%.2f", s.FPOnGlandPerCase), fmt.Sprintf("%.2f", other))
		} else {
			cells = append(cells, "n/a", "n/a", "n/a")
		}
		if full {
			sens := "—"
			if s.PositiveCases > 0 {
				sens = fmt.Sprintf("%.1f%% of %d", 100*s.StudySensitivity, s.PositiveCases)
			}
			cells = append(cells, sens)
		}
		spec := "—"
		if s.NegativeCases > 0 {
			spec = fmt.Sprintf("%.1f%% of %d", 100*s.StudySpecificity, s.NegativeCases)
		}
		cells = append(cells, spec)
		if full {
			cells = append(cells, fmt.Sprintf("%.3f", s.LesionDice))
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}

// LocationsMarkdown is a markdown table of false positives per study by
// location, one row per group, one column per location of locs (in that
// order), over the group's studies whose false positives were placed
// (Summary.PlacedCases; "n/a" where none were).
func LocationsMarkdown(locs []string, gs []GroupSummary) string {
	var b strings.Builder
	header := append([]string{"brain", "studies", "studies placed"}, locs...)
	fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, g := range gs {
		s := g.Summary
		cells := []string{g.Group, fmt.Sprint(s.Cases), fmt.Sprint(s.PlacedCases)}
		for _, l := range locs {
			if s.PlacedCases == 0 {
				cells = append(cells, "n/a")
				continue
			}
			n := s.FPByLocation[l]
			cells = append(cells, fmt.Sprintf("%.2f (%d)", float64(n)/float64(s.PlacedCases), n))
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	return b.String()
}
