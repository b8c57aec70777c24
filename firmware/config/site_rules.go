package config

import "regexp"

// Rules are the declarative series selection rules of a site: which series
// of a study the detector reads. The VISIBLE pair is tried first, then the
// single post-contrast 3D T1 fallback; ties are broken by instance count.
type Rules struct {
	Visible    VisibleRule `yaml:"visible"`
	T1Fallback T1Rule      `yaml:"t1_fallback"`
}

// VisibleRule picks the black-blood and bright-blood series of one VISIBLE
// acquisition: both pass Filter, each matches its own Match, and they share
// FrameOfReferenceUID and geometry.
type VisibleRule struct {
	Enabled bool         `yaml:"enabled"`
	Filter  SeriesFilter `yaml:"filter"`
	Black   SeriesMatch  `yaml:"black"`
	Bright  SeriesMatch  `yaml:"bright"`
	// Split reads a VISIBLE acquisition a scanner exports as one series
	// holding both image sets; tried when no pair of series is found.
	Split SplitRule `yaml:"split"`
}

// Attributes that can tell the two image sets of one split series apart.
const (
	SplitByImageType   = "image_type"   // ImageType values joined by a backslash
	SplitByEchoNumbers = "echo_numbers" // EchoNumbers as a decimal number
)

// SplitRule tells the black-blood and bright-blood images of one series
// apart by an attribute of each instance.
type SplitRule struct {
	Enabled   bool        `yaml:"enabled"`
	Match     SeriesMatch `yaml:"match"`     // which series hold both sets
	Attribute string      `yaml:"attribute"` // image_type or echo_numbers
	Black     string      `yaml:"black"`     // pattern over the attribute for black-blood images
	Bright    string      `yaml:"bright"`    // pattern for bright-blood images
}

// T1Rule picks one post-contrast 3D T1 series when no VISIBLE pair is there.
type T1Rule struct {
	Enabled bool         `yaml:"enabled"`
	Filter  SeriesFilter `yaml:"filter"`
	Match   SeriesMatch  `yaml:"match"`
}

// SeriesFilter holds the attribute tests a candidate series must pass.
type SeriesFilter struct {
	// RequireOriginal: ImageType starts ORIGINAL\PRIMARY and has no DERIVED.
	RequireOriginal bool `yaml:"require_original"`
	// MRAcquisitionType the series must have ("3D" or "2D"; "" = any).
	MRAcquisitionType string `yaml:"mr_acquisition_type"`
	// RequireContrast: ContrastBolusAgent is present and not empty.
	RequireContrast bool `yaml:"require_contrast"`
	// MaxSliceThickness in mm (0 = any).
	MaxSliceThickness float64 `yaml:"max_slice_thickness"`
}

// SeriesMatch holds regular expressions (RE2 syntax) that must all match
// their attribute; an empty one is not tested. At least one must be set.
type SeriesMatch struct {
	SeriesDescription string `yaml:"series_description"`
	ProtocolName      string `yaml:"protocol_name"`
	SequenceName      string `yaml:"sequence_name"`
}

// Retention says how long received studies and results are kept.
type Retention struct {
	// MaxAgeDays purges studies whose last instance is older (0 = no age
	// limit; the watermark alone frees space).
	MaxAgeDays int `yaml:"max_age_days"`
	// HighWatermarkPercent: above this share of the disk used, delivered
	// studies are purged oldest first.
	HighWatermarkPercent int `yaml:"high_watermark_percent"`
	// MinFreeMB: below this much free space new instances are refused
	// (A700) and the panel shows a fault.
	MinFreeMB int `yaml:"min_free_mb"`
}

// DefaultRules are the rules of a site file with no rules section.
func DefaultRules() Rules {
	f := SeriesFilter{RequireOriginal: true, MRAcquisitionType: "3D", RequireContrast: true, MaxSliceThickness: 1.5}
	return Rules{
		Visible: VisibleRule{Enabled: true, Filter: f,
			Black:  SeriesMatch{SeriesDescription: `(?i)(black|\bBB\b|dark|vessel.?supp)`},
			Bright: SeriesMatch{SeriesDescription: `(?i)(bright|\bWB\b|white)`}},
		T1Fallback: T1Rule{Enabled: true, Filter: f,
			Match: SeriesMatch{SeriesDescription: `(?i)(t1|mprage|mp-rage|spgr|bravo|vibe|tfe|ffe)`}},
	}
}

// DefaultRetention is the retention of a site file with no retention section.
func DefaultRetention() Retention {
	return Retention{MaxAgeDays: 30, HighWatermarkPercent: 85, MinFreeMB: 1024}
}

func (s *Site) checkRules(c *checker) {
	r := s.Rules
	v := r.Visible
	if v.Enabled {
		checkFilter(c, "rules.visible.filter", v.Filter)
		checkMatch(c, "rules.visible.black", v.Black)
		checkMatch(c, "rules.visible.bright", v.Bright)
		if v.Black == v.Bright {
			c.addf("rules.visible.bright", "rules.visible.bright is the same as black (expected patterns that tell the black-blood and bright-blood series apart)")
		}
		if v.Split.Enabled {
			checkSplit(c, v.Split)
		}
	}
	if r.T1Fallback.Enabled {
		checkFilter(c, "rules.t1_fallback.filter", r.T1Fallback.Filter)
		checkMatch(c, "rules.t1_fallback.match", r.T1Fallback.Match)
	}
	if !v.Enabled && !r.T1Fallback.Enabled {
		c.addf("rules", "rules: both visible and t1_fallback are disabled, so no study would ever be read (enable at least one)")
	}
	rt := s.Retention
	if rt.MaxAgeDays < 0 || rt.MaxAgeDays > 3650 {
		c.addf("retention.max_age_days", "retention.max_age_days %d is out of range (expected 0 to 3650; 0 keeps studies until space is needed, 30 is usual)", rt.MaxAgeDays)
	}
	if rt.HighWatermarkPercent < 50 || rt.HighWatermarkPercent > 99 {
		c.addf("retention.high_watermark_percent", "retention.high_watermark_percent %d is out of range (expected 50 to 99; 85 is usual)", rt.HighWatermarkPercent)
	}
	if rt.MinFreeMB < 64 || rt.MinFreeMB > 1<<20 {
		c.addf("retention.min_free_mb", "retention.min_free_mb %d is out of range (expected 64 to 1048576; 1024 is usual)", rt.MinFreeMB)
	}
}

func checkSplit(c *checker, sp SplitRule) {
	const p = "rules.visible.split"
	checkMatch(c, p+".match", sp.Match)
	if sp.Attribute != SplitByImageType && sp.Attribute != SplitByEchoNumbers {
		c.addf(p+".attribute", "%s.attribute %q is not an attribute intake can split by (use image_type or echo_numbers)", p, sp.Attribute)
	}
	for _, kv := range [][2]string{{"black", sp.Black}, {"bright", sp.Bright}} {
		if kv[1] == "" {
			c.addf(p+"."+kv[0], "%s.%s is empty (expected a pattern for the %s-blood images' %s, e.g. ^2$ or (?i)BLACK)", p, kv[0], kv[0], sp.Attribute)
		} else if _, err := regexp.Compile(kv[1]); err != nil {
			c.addf(p+"."+kv[0], "%s.%s %q is not a valid regular expression: %v (expected RE2 syntax)", p, kv[0], kv[1], err)
		}
	}
	if sp.Black != "" && sp.Black == sp.Bright {
		c.addf(p+".bright", "%s.bright is the same as black (expected patterns that tell the two image sets apart)", p)
	}
}

func checkFilter(c *checker, path string, f SeriesFilter) {
	switch f.MRAcquisitionType {
	case "", "2D", "3D":
	default:
		c.addf(path+".mr_acquisition_type", "%s.mr_acquisition_type %q is not an MR acquisition type (use 3D, 2D or leave it out for any)", path, f.MRAcquisitionType)
	}
	if f.MaxSliceThickness < 0 || f.MaxSliceThickness > 20 {
		c.addf(path+".max_slice_thickness", "%s.max_slice_thickness %v is out of range (expected 0 to 20 mm; 0 means any, 1.5 is usual)", path, f.MaxSliceThickness)
	}
}

func checkMatch(c *checker, path string, m SeriesMatch) {
	if m == (SeriesMatch{}) {
		c.addf(path, "%s has no pattern (expected at least one of series_description, protocol_name, sequence_name)", path)
		return
	}
	for _, kv := range [][2]string{{"series_description", m.SeriesDescription}, {"protocol_name", m.ProtocolName}, {"sequence_name", m.SequenceName}} {
		if kv[1] == "" {
			continue
		}
		if _, err := regexp.Compile(kv[1]); err != nil {
			c.addf(path+"."+kv[0], "%s.%s %q is not a valid regular expression: %v (expected RE2 syntax, e.g. (?i)black)", path, kv[0], kv[1], err)
		}
	}
}
