package intake

import (
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
)

// TestSplitVisibleSeries: a scanner that exports both VISIBLE image sets in
// one series, told apart by EchoNumbers. The split rule selects the series
// twice, each role with its own instances, ahead of the T1 fallback.
func TestSplitVisibleSeries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		blackCount int
		wantRule   string
		wantAudit  string
	}{
		{"both sets", 6, RuleVisibleSplit, "split VISIBLE series chosen: series 5, 6 black-blood + 6 bright-blood images by echo_numbers"},
		{"a set short", 5, RuleT1, "series 5 is not a split VISIBLE series: 5 black-blood but 6 bright-blood images by echo_numbers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(s *config.Site) {
				s.Rules.Visible.Split = config.SplitRule{Enabled: true, Match: config.SeriesMatch{SeriesDescription: "(?i)visible"},
					Attribute: config.SplitByEchoNumbers, Black: "^2$", Bright: "^1$"}
			})
			src := philips(t, 80, 6)
			bright := visibleSeries(src, study+".5", 5, "VISIBLE 3D")
			bright.extra = map[tag.Tag][]string{tag.EchoNumbers: {"1"}}
			black := bright
			black.extra, black.sopBase = map[tag.Tag][]string{tag.EchoNumbers: {"2"}}, 100
			t1 := visibleSeries(src, study+".9", 9, "T1 3D +C")
			e.send(bright, 0, 6)
			e.send(black, 0, tc.blackCount)
			e.send(t1, 0, 6)
			e.clk.Add(20 * time.Second)
			e.evaluate()
			jobs := e.jobs()
			if len(jobs) != 1 || jobs[0].State != cache.JobReady || jobs[0].Rule != tc.wantRule {
				t.Fatalf("jobs %+v; want one ready by %s", jobs, tc.wantRule)
			}
			if !hasLine(e.audit("select"), tc.wantAudit) {
				t.Errorf("audit lacks %q:\n%s", tc.wantAudit, strings.Join(e.audit("select"), "\n"))
			}
			if tc.wantRule != RuleVisibleSplit {
				return
			}
			j := jobs[0]
			if len(j.Series) != 2 || j.Series[0].Role != RoleBlack || j.Series[1].Role != RoleBright {
				t.Fatalf("selected %+v", j.Series)
			}
			for _, sel := range j.Series { // black: SOPs .5.101 to .5.106; bright: .5.1 to .5.6
				if sel.SeriesInstanceUID != study+".5" || len(sel.Instances) != 6 || sel.Count != 6 {
					t.Fatalf("%s: %+v", sel.Role, sel)
				}
				for _, uid := range sel.Instances {
					isBlack := strings.HasPrefix(uid, study+".5.10")
					if isBlack != (sel.Role == RoleBlack) {
						t.Errorf("%s role holds %s", sel.Role, uid)
					}
				}
			}
		})
	}
}
