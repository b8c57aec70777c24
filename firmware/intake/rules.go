package intake

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
)

// Rule names, recorded in the job.
const (
	RuleVisible      = "visible"
	RuleVisibleSplit = "visible_split" // both image sets in one series
	RuleT1           = "t1_fallback"
	// RuleBrightOnly: the bright-blood series of a VISIBLE acquisition
	// without its black-blood partner, read alone (a bright-only study).
	RuleBrightOnly = "visible_bright_only"
)

// Roles of selected series.
const (
	RoleBlack  = "black"
	RoleBright = "bright"
	RoleT1     = "t1"
)

// Rules are compiled selection rules.
type Rules struct {
	visible       bool
	visibleFilter config.SeriesFilter
	black, bright matcher
	t1            bool
	t1Filter      config.SeriesFilter
	t1Match       matcher
	split         bool
	splitMatch    matcher
	splitAttr     string
	splitBlack    *regexp.Regexp
	splitBright   *regexp.Regexp
}

type matcher struct {
	desc, proto, seq *regexp.Regexp
}

// CompileRules compiles the site's rules. The config package has checked
// them already; an error here means a caller skipped that check.
func CompileRules(r config.Rules) (*Rules, error) {
	out := &Rules{visible: r.Visible.Enabled, visibleFilter: r.Visible.Filter, t1: r.T1Fallback.Enabled, t1Filter: r.T1Fallback.Filter}
	var err error
	if out.black, err = compileMatch("rules.visible.black", r.Visible.Black); err != nil {
		return nil, err
	}
	if out.bright, err = compileMatch("rules.visible.bright", r.Visible.Bright); err != nil {
		return nil, err
	}
	if out.t1Match, err = compileMatch("rules.t1_fallback.match", r.T1Fallback.Match); err != nil {
		return nil, err
	}
	if sp := r.Visible.Split; sp.Enabled && r.Visible.Enabled {
		out.split, out.splitAttr = true, sp.Attribute
		if out.splitMatch, err = compileMatch("rules.visible.split.match", sp.Match); err != nil {
			return nil, err
		}
		if out.splitBlack, err = regexp.Compile(sp.Black); err != nil {
			return nil, fmt.Errorf("intake: rules.visible.split.black: %q is not a valid regular expression: %w", sp.Black, err)
		}
		if out.splitBright, err = regexp.Compile(sp.Bright); err != nil {
			return nil, fmt.Errorf("intake: rules.visible.split.bright: %q is not a valid regular expression: %w", sp.Bright, err)
		}
		if sp.Attribute != config.SplitByImageType && sp.Attribute != config.SplitByEchoNumbers {
			return nil, fmt.Errorf("intake: rules.visible.split.attribute %q is not image_type or echo_numbers", sp.Attribute)
		}
	}
	return out, nil
}

func compileMatch(where string, m config.SeriesMatch) (matcher, error) {
	var out matcher
	for _, x := range []struct {
		re  string
		dst **regexp.Regexp
	}{{m.SeriesDescription, &out.desc}, {m.ProtocolName, &out.proto}, {m.SequenceName, &out.seq}} {
		if x.re == "" {
			continue
		}
		re, err := regexp.Compile(x.re)
		if err != nil {
			return out, fmt.Errorf("intake: %s: %q is not a valid regular expression: %w", where, x.re, err)
		}
		*x.dst = re
	}
	return out, nil
}

// why returns "" when h matches, else what did not.
func (m matcher) why(h cache.Header) string {
	for _, x := range []struct {
		name, val string
		re        *regexp.Regexp
	}{{"SeriesDescription", h.SeriesDescription, m.desc}, {"ProtocolName", h.ProtocolName, m.proto}, {"SequenceName", h.SequenceName, m.seq}} {
		if x.re != nil && !x.re.MatchString(x.val) {
			return fmt.Sprintf("%s %q does not match %s", x.name, x.val, x.re)
		}
	}
	return ""
}

// filterWhy returns "" when h passes f, else the first test it fails.
func filterWhy(f config.SeriesFilter, h cache.Header) string {
	if f.RequireOriginal {
		it := h.ImageType
		if len(it) < 2 || !strings.EqualFold(it[0], "ORIGINAL") || !strings.EqualFold(it[1], "PRIMARY") {
			return fmt.Sprintf(`ImageType %s is not ORIGINAL\PRIMARY`, strings.Join(it, `\`))
		}
		for _, v := range it {
			if strings.EqualFold(v, "DERIVED") {
				return fmt.Sprintf(`ImageType %s is DERIVED`, strings.Join(it, `\`))
			}
		}
	}
	if f.MRAcquisitionType != "" && !strings.EqualFold(h.MRAcquisitionType, f.MRAcquisitionType) {
		got := h.MRAcquisitionType
		if got == "" {
			got = "absent"
		}
		return fmt.Sprintf("MRAcquisitionType %s (%s required)", got, f.MRAcquisitionType)
	}
	if f.RequireContrast && strings.TrimSpace(h.ContrastBolusAgent) == "" {
		return "no ContrastBolusAgent (a post-contrast series is required)"
	}
	if f.MaxSliceThickness > 0 && (h.SliceThickness <= 0 || h.SliceThickness > f.MaxSliceThickness+1e-6) {
		if h.SliceThickness <= 0 {
			return fmt.Sprintf("no SliceThickness (at most %g mm required)", f.MaxSliceThickness)
		}
		return fmt.Sprintf("SliceThickness %g mm (at most %g mm required)", h.SliceThickness, f.MaxSliceThickness)
	}
	return ""
}

// Candidate is a series with what selection needs beyond its state: the
// extent of its slices along the slice normal, from its instances.
type Candidate struct {
	cache.Series
	Extent    [2]float64       // min and max slice position along the normal, mm
	Instances []cache.Instance // the series' instances (candidates only)
}

// images is the number of images of a series (frames of multi-frame
// instances count).
func images(s cache.Series) int {
	if s.MultiFrame && s.Attrs.NumberOfFrames > 0 {
		return s.Count * s.Attrs.NumberOfFrames
	}
	return s.Count
}

// Selection is the outcome of the rules for one study.
type Selection struct {
	Rule      string // RuleVisible, RuleT1, or "" when nothing matched
	Series    []cache.Selected
	Decisions []Decision // every choice and every skipped series, with its reason
}

// Decision is one line for the audit log.
type Decision struct {
	Series string // Series Instance UID, "" for study-level lines
	Msg    string
}

// roleWhy says why series s is not a candidate for a role ("" = it is).
func (r *Rules) roleWhy(role string, s cache.Series) string {
	switch role {
	case RoleBlack, RoleBright:
		if !r.visible {
			return "VISIBLE rule disabled"
		}
		if w := filterWhy(r.visibleFilter, s.Attrs); w != "" {
			return w
		}
		m := r.black
		if role == RoleBright {
			m = r.bright
		}
		return m.why(s.Attrs)
	case RoleSplit:
		if !r.split {
			return "VISIBLE split rule disabled"
		}
		if w := filterWhy(r.visibleFilter, s.Attrs); w != "" {
			return w
		}
		return r.splitMatch.why(s.Attrs)
	case RoleT1:
		if !r.t1 {
			return "T1 fallback disabled"
		}
		if w := filterWhy(r.t1Filter, s.Attrs); w != "" {
			return w
		}
		return r.t1Match.why(s.Attrs)
	}
	return "unknown role"
}

// IsCandidate reports whether a series could be selected by some rule (used
// to wait for a candidate still arriving).
func (r *Rules) IsCandidate(s cache.Series) bool {
	return r.roleWhy(RoleBlack, s) == "" || r.roleWhy(RoleBright, s) == "" || r.roleWhy(RoleSplit, s) == "" || r.roleWhy(RoleT1, s) == ""
}

// RoleSplit is the pseudo-role of a series that may hold both VISIBLE image
// sets; it never appears in a job (its images get black and bright).
const RoleSplit = "split"

// splitValue is the attribute a split series is divided by.
func (r *Rules) splitValue(h cache.Header) string {
	if r.splitAttr == config.SplitByEchoNumbers {
		return strconv.Itoa(h.EchoNumbers)
	}
	return strings.Join(h.ImageType, `\`)
}

// trySplit divides one series into its black-blood and bright-blood images.
// It returns the two roles, or why the series is not a VISIBLE pair.
func (r *Rules) trySplit(c Candidate) ([]cache.Selected, string) {
	var black, bright []cache.Instance
	other := 0
	for _, in := range c.Instances {
		v := r.splitValue(in.Header)
		switch b, w := r.splitBlack.MatchString(v), r.splitBright.MatchString(v); {
		case b && w:
			return nil, fmt.Sprintf("%s %q matches both the black and the bright pattern", r.splitAttr, v)
		case b:
			black = append(black, in)
		case w:
			bright = append(bright, in)
		default:
			other++
		}
	}
	switch {
	case len(black) == 0 || len(bright) == 0:
		return nil, fmt.Sprintf("%d black-blood and %d bright-blood images by %s (%d others)", len(black), len(bright), r.splitAttr, other)
	case len(black) != len(bright):
		return nil, fmt.Sprintf("%d black-blood but %d bright-blood images by %s", len(black), len(bright), r.splitAttr)
	}
	eb, ew := extent(black), extent(bright)
	if math.Abs(eb[0]-ew[0]) > 0.5 || math.Abs(eb[1]-ew[1]) > 0.5 {
		return nil, fmt.Sprintf("black-blood slices %.1f..%.1f mm, bright-blood %.1f..%.1f mm", eb[0], eb[1], ew[0], ew[1])
	}
	role := func(name string, ins []cache.Instance) cache.Selected {
		sel := selected(name, c.Series)
		sel.Count = len(ins)
		for _, in := range ins {
			sel.Instances = append(sel.Instances, in.SOPInstanceUID)
		}
		return sel
	}
	return []cache.Selected{role(RoleBlack, black), role(RoleBright, bright)}, ""
}

// sameGeometry says why two series are not one acquisition's pair ("" = they
// are): same frame of reference, orientation, pixel spacing, matrix, image
// count and slice extent.
func sameGeometry(a, b Candidate) string {
	ha, hb := a.Attrs, b.Attrs
	switch {
	case ha.FrameOfReferenceUID == "" || ha.FrameOfReferenceUID != hb.FrameOfReferenceUID:
		return "FrameOfReferenceUID differs"
	case !closeAll(ha.ImageOrientation, hb.ImageOrientation, 1e-3):
		return "ImageOrientationPatient differs"
	case !closeAll(ha.PixelSpacing, hb.PixelSpacing, 1e-3):
		return "PixelSpacing differs"
	case ha.Rows != hb.Rows || ha.Columns != hb.Columns:
		return fmt.Sprintf("matrix %dx%d vs %dx%d", ha.Columns, ha.Rows, hb.Columns, hb.Rows)
	case images(a.Series) != images(b.Series):
		return fmt.Sprintf("%d vs %d images", images(a.Series), images(b.Series))
	case math.Abs(a.Extent[0]-b.Extent[0]) > 0.5 || math.Abs(a.Extent[1]-b.Extent[1]) > 0.5:
		return fmt.Sprintf("slice range %.1f..%.1f mm vs %.1f..%.1f mm", a.Extent[0], a.Extent[1], b.Extent[0], b.Extent[1])
	}
	return ""
}

func closeAll(a, b []float64, tol float64) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func label(s cache.Series) string {
	return fmt.Sprintf("series %d", s.Attrs.SeriesNumber)
}

// Select applies the rules to the complete series of a study.
func (r *Rules) Select(series []Candidate) Selection {
	var sel Selection
	slices.SortFunc(series, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.Attrs.SeriesNumber, b.Attrs.SeriesNumber), cmp.Compare(a.SeriesInstanceUID, b.SeriesInstanceUID))
	})
	add := func(s cache.Series, format string, args ...any) {
		sel.Decisions = append(sel.Decisions, Decision{Series: s.SeriesInstanceUID, Msg: fmt.Sprintf(format, args...)})
	}
	var blacks, brights []Candidate
	if r.visible {
		for _, s := range series {
			wb, wr := r.roleWhy(RoleBlack, s.Series), r.roleWhy(RoleBright, s.Series)
			switch {
			case wb == "":
				blacks = append(blacks, s)
			case wr == "":
				brights = append(brights, s)
			case filterWhy(r.visibleFilter, s.Attrs) != "":
				add(s.Series, "%s skipped for the VISIBLE pair: %s", label(s.Series), wb)
			default:
				add(s.Series, "%s skipped for the VISIBLE pair: not black-blood (%s), not bright-blood (%s)", label(s.Series), wb, wr)
			}
		}
		type pair struct{ b, w Candidate }
		var pairs []pair
		for _, b := range blacks {
			for _, w := range brights {
				if why := sameGeometry(b, w); why != "" {
					sel.Decisions = append(sel.Decisions, Decision{Msg: fmt.Sprintf("%s (black) and %s (bright) are not one acquisition: %s", label(b.Series), label(w.Series), why)})
					continue
				}
				pairs = append(pairs, pair{b, w})
			}
		}
		if len(pairs) > 0 {
			slices.SortStableFunc(pairs, func(x, y pair) int {
				return cmp.Compare(images(y.b.Series)+images(y.w.Series), images(x.b.Series)+images(x.w.Series))
			})
			best := pairs[0]
			n := images(best.b.Series) + images(best.w.Series)
			sel.Rule = RuleVisible
			sel.Series = []cache.Selected{selected(RoleBlack, best.b.Series), selected(RoleBright, best.w.Series)}
			sel.Decisions = append(sel.Decisions, Decision{Msg: fmt.Sprintf("VISIBLE pair chosen: %s (black) + %s (bright), %d images", label(best.b.Series), label(best.w.Series), n)})
			for _, p := range pairs[1:] {
				m := images(p.b.Series) + images(p.w.Series)
				why := fmt.Sprintf("%d images, fewer than %d", m, n)
				if m == n {
					why = fmt.Sprintf("%d images, the same count; the lower series numbers win", m)
				}
				sel.Decisions = append(sel.Decisions, Decision{Msg: fmt.Sprintf("VISIBLE pair %s + %s not chosen: %s", label(p.b.Series), label(p.w.Series), why)})
			}
			return sel
		}
		if len(blacks)+len(brights) > 0 {
			sel.Decisions = append(sel.Decisions, Decision{Msg: fmt.Sprintf("no VISIBLE pair: %d black-blood and %d bright-blood candidates, none of one acquisition", len(blacks), len(brights))})
		}
	}
	if r.split {
		var best []cache.Selected
		for _, s := range series {
			if w := r.roleWhy(RoleSplit, s.Series); w != "" {
				add(s.Series, "%s skipped for a split VISIBLE series: %s", label(s.Series), w)
				continue
			}
			roles, why := r.trySplit(s)
			if why != "" {
				add(s.Series, "%s is not a split VISIBLE series: %s", label(s.Series), why)
				continue
			}
			if best == nil || roles[0].Count > best[0].Count {
				if best != nil {
					add(s.Series, "split VISIBLE %s not chosen: fewer images than series %d", label(s.Series), best[0].SeriesNumber)
				}
				best = roles
			}
		}
		if best != nil {
			sel.Rule, sel.Series = RuleVisibleSplit, best
			sel.Decisions = append(sel.Decisions, Decision{Series: best[0].SeriesInstanceUID, Msg: fmt.Sprintf(
				"split VISIBLE series chosen: series %d, %d black-blood + %d bright-blood images by %s", best[0].SeriesNumber, best[0].Count, best[1].Count, r.splitAttr)})
			return sel
		}
	}
	if len(brights) > 0 && len(blacks) == 0 {
		// The bright-blood series of a VISIBLE acquisition alone: the model
		// reads it as a bright-only study (black channel zeroed), which the
		// SR and the panel say. A black-blood series that is not of the same
		// acquisition is a question for a person, not a bright-only study.
		slices.SortStableFunc(brights, func(x, y Candidate) int { return cmp.Compare(images(y.Series), images(x.Series)) })
		best := brights[0]
		sel.Rule = RuleBrightOnly
		sel.Series = []cache.Selected{selected(RoleBright, best.Series)}
		sel.Decisions = append(sel.Decisions, Decision{Series: best.SeriesInstanceUID, Msg: fmt.Sprintf(
			"no black-blood partner: %s (bright-blood, %d images) read alone as a bright-only study", label(best.Series), images(best.Series))})
		return sel
	}
	if r.t1 {
		var t1s []Candidate
		for _, s := range series {
			if w := r.roleWhy(RoleT1, s.Series); w != "" {
				add(s.Series, "%s skipped for the T1 fallback: %s", label(s.Series), w)
				continue
			}
			t1s = append(t1s, s)
		}
		if len(t1s) > 0 {
			slices.SortStableFunc(t1s, func(x, y Candidate) int { return cmp.Compare(images(y.Series), images(x.Series)) })
			best := t1s[0]
			sel.Rule = RuleT1
			sel.Series = []cache.Selected{selected(RoleT1, best.Series)}
			sel.Decisions = append(sel.Decisions, Decision{Series: best.SeriesInstanceUID, Msg: fmt.Sprintf("T1 fallback chosen: %s, %d images", label(best.Series), images(best.Series))})
			for _, o := range t1s[1:] {
				sel.Decisions = append(sel.Decisions, Decision{Series: o.SeriesInstanceUID, Msg: fmt.Sprintf("T1 candidate %s not chosen: %d images (chosen: %d)", label(o.Series), images(o.Series), images(best.Series))})
			}
			return sel
		}
	}
	sel.Decisions = append(sel.Decisions, Decision{Msg: fmt.Sprintf("no matching series among %d: nothing to read (not a fault)", len(series))})
	return sel
}

func selected(role string, s cache.Series) cache.Selected {
	return cache.Selected{Role: role, SeriesInstanceUID: s.SeriesInstanceUID, SeriesNumber: s.Attrs.SeriesNumber, Count: s.Count}
}

// extent returns the min and max slice position along the normal of the
// series orientation.
func extent(insts []cache.Instance) [2]float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, in := range insts {
		o, p := in.ImageOrientation, in.ImagePosition
		if len(o) != 6 || len(p) != 3 {
			continue
		}
		n := [3]float64{o[1]*o[5] - o[2]*o[4], o[2]*o[3] - o[0]*o[5], o[0]*o[4] - o[1]*o[3]}
		d := n[0]*p[0] + n[1]*p[1] + n[2]*p[2]
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > hi {
		return [2]float64{}
	}
	return [2]float64{lo, hi}
}
