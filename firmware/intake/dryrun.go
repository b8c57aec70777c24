package intake

import (
	"cmp"
	"slices"

	"metsentry/firmware/cache"
)

// StudySelection is what the rules pick from one study of a dry run.
type StudySelection struct {
	StudyInstanceUID string
	Series           []cache.Series // every series found, by series number
	Selection
}

// DryRun applies the rules to instances read from files rather than the
// cache (metctl rules test): it groups them into studies and series the
// way the cache does (a series' attributes are those of its first
// instance), takes every series as complete, and returns each study's
// selection with the reason for every series passed over. It writes
// nothing.
func (r *Rules) DryRun(insts []cache.Instance) []StudySelection {
	type key struct{ study, series string }
	bySeries := map[key][]cache.Instance{}
	var order []key
	for _, in := range insts {
		k := key{in.StudyInstanceUID, in.SeriesInstanceUID}
		if _, ok := bySeries[k]; !ok {
			order = append(order, k)
		}
		bySeries[k] = append(bySeries[k], in)
	}
	studies := map[string]*StudySelection{}
	cands := map[string][]Candidate{}
	var uids []string
	for _, k := range order {
		list := bySeries[k]
		seen := map[string]bool{}
		s := cache.Series{StudyInstanceUID: k.study, SeriesInstanceUID: k.series, Attrs: list[0].Header,
			MultiFrame: cache.IsEnhancedMR(list[0].SOPClassUID), Complete: true, CompleteReason: "dry run: taken as complete"}
		for _, in := range list {
			if !seen[in.SOPInstanceUID] {
				seen[in.SOPInstanceUID] = true
				s.Count++
			}
		}
		s.Expected, s.ExpectedFrom = cache.ExpectedCount(s.Attrs)
		c := Candidate{Series: s}
		if r.IsCandidate(s) {
			c.Extent, c.Instances = extent(list), list
		}
		st := studies[k.study]
		if st == nil {
			st = &StudySelection{StudyInstanceUID: k.study}
			studies[k.study] = st
			uids = append(uids, k.study)
		}
		st.Series = append(st.Series, s)
		cands[k.study] = append(cands[k.study], c)
	}
	var out []StudySelection
	for _, uid := range uids {
		st := studies[uid]
		slices.SortFunc(st.Series, func(a, b cache.Series) int {
			return cmp.Or(cmp.Compare(a.Attrs.SeriesNumber, b.Attrs.SeriesNumber), cmp.Compare(a.SeriesInstanceUID, b.SeriesInstanceUID))
		})
		st.Selection = r.Select(cands[uid])
		out = append(out, *st)
	}
	return out
}
