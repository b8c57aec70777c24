package score

import (
	"strings"
	"testing"
)

func TestSummarizeBy(t *testing.T) {
	brain := map[string]string{"a1": "colin27", "a2": "colin27", "b1": "brats", "c1": ""}
	rs := []CaseResult{
		{ID: "a1", Lesions: []LesionOutcome{{ID: 1, Bin: BinSmall, Hit: true}, {ID: 2, Bin: BinLarge, Hit: true}}, Hits: 2, FP: 1, VesselsKnown: true, FPOnVessel: 1, Positive: true, Flagged: true},
		{ID: "a2", FP: 2, VesselsKnown: true, FPOnGland: 1, Flagged: true},
		{ID: "b1", Lesions: []LesionOutcome{{ID: 1, Bin: BinSmall}}, FP: 3, VesselsKnown: true, FPOnVessel: 2, Positive: true, Flagged: true},
		{ID: "c1", VesselsKnown: false},
	}
	gs := SummarizeBy(rs, func(r CaseResult) string { return brain[r.ID] })
	tests := []struct {
		name                            string
		group                           string
		cases, lesions, hits, fp, onVes int
	}{
		{"none", "(none)", 1, 0, 0, 0, 0},
		{"brats", "brats", 1, 1, 0, 3, 2},
		{"colin", "colin27", 2, 2, 2, 3, 1},
	}
	if len(gs) != len(tests) {
		t.Fatalf("%d groups, want %d: %+v", len(gs), len(tests), gs)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gs[i]
			if g.Group != tc.group || g.Cases != tc.cases || g.Lesions != tc.lesions || g.Hits != tc.hits || g.FP != tc.fp || g.FPOnVessel != tc.onVes {
				t.Errorf("group %d: %+v, want %+v", i, g, tc)
			}
		})
	}
	md := GroupsMarkdown(gs)
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) != 2+len(gs) {
		t.Fatalf("%d table lines, want %d:\n%s", len(lines), 2+len(gs), md)
	}
	for _, l := range lines[2:] {
		if n := len(strings.Split(strings.Trim(l, "| "), " | ")); n != len(GroupHeader) {
			t.Errorf("line %q has %d cells, want %d", l, n, len(GroupHeader))
		}
	}
	// colin27: 1 of 2 studies lesion-free and flagged; FP 3 over 2 studies,
	// 1 on a vessel, 1 on a gland, 1 elsewhere
	want := "| colin27 | 2 | 2 | 100.0% | 100.0% (1/1) | — | 100.0% (1/1) | 1.50 | 0.50 | 0.50 | 0.50 | 0.0% of 1 |"
	if lines[4] != want {
		t.Errorf("colin27 row\n got %s\nwant %s", lines[4], want)
	}
	if !strings.Contains(lines[2], "n/a") {
		t.Errorf("a group without vessel maps must say n/a: %s", lines[2])
	}
}
