package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const rulesSite = `ae_title: METSENTRY
rules:
  visible:
    enabled: true
    filter:
      require_original: true
      mr_acquisition_type: 3D
      require_contrast: true
      max_slice_thickness: 1.5
    black:
      series_description: "(?i)VISIBLE.*BB"
    bright:
      series_description: "(?i)VISIBLE.*WB"
      protocol_name: "(?i)brain"
  t1_fallback:
    enabled: true
    filter:
      mr_acquisition_type: 3D
      require_contrast: true
    match:
      series_description: "(?i)t1"
retention:
  max_age_days: 14
  high_watermark_percent: 80
  min_free_mb: 2048
`

func TestSiteRules(t *testing.T) {
	s, err := ParseSite("site.yaml", []byte(rulesSite))
	if err != nil {
		t.Fatalf("good rules refused:\n%v", err)
	}
	want := Rules{
		Visible: VisibleRule{Enabled: true,
			Filter: SeriesFilter{RequireOriginal: true, MRAcquisitionType: "3D", RequireContrast: true, MaxSliceThickness: 1.5},
			Black:  SeriesMatch{SeriesDescription: "(?i)VISIBLE.*BB"},
			Bright: SeriesMatch{SeriesDescription: "(?i)VISIBLE.*WB", ProtocolName: "(?i)brain"}},
		T1Fallback: T1Rule{Enabled: true,
			// Keys left out keep their defaults.
			Filter: SeriesFilter{RequireOriginal: true, MRAcquisitionType: "3D", RequireContrast: true, MaxSliceThickness: 1.5},
			Match:  SeriesMatch{SeriesDescription: "(?i)t1"}},
	}
	if d := cmp.Diff(want, s.Rules); d != "" {
		t.Errorf("rules (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Retention{MaxAgeDays: 14, HighWatermarkPercent: 80, MinFreeMB: 2048}, s.Retention); d != "" {
		t.Errorf("retention (-want +got):\n%s", d)
	}
}

func TestSiteRulesDefaults(t *testing.T) {
	s, err := ParseSite("s.yaml", []byte("ae_title: METSENTRY\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(DefaultRules(), s.Rules); d != "" {
		t.Errorf("default rules (-want +got):\n%s", d)
	}
	if d := cmp.Diff(DefaultRetention(), s.Retention); d != "" {
		t.Errorf("default retention (-want +got):\n%s", d)
	}
}

func TestSiteRulesMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		want           string // file:line: start of the message
	}{
		{"unknown key in a match", `      series_description: "(?i)VISIBLE.*BB"`, `      series_desc: "(?i)VISIBLE.*BB"`,
			`site.yaml:11: unknown key "series_desc" in a rule match`},
		{"bad regular expression", `"(?i)VISIBLE.*WB"`, `"(?i)VISIBLE(WB"`,
			`site.yaml:13: rules.visible.bright.series_description "(?i)VISIBLE(WB" is not a valid regular expression`},
		{"acquisition type", "      mr_acquisition_type: 3D\n      require_contrast: true\n      max", "      mr_acquisition_type: 4D\n      require_contrast: true\n      max",
			`site.yaml:7: rules.visible.filter.mr_acquisition_type "4D" is not an MR acquisition type`},
		{"slice thickness", "max_slice_thickness: 1.5", "max_slice_thickness: -1",
			`site.yaml:9: rules.visible.filter.max_slice_thickness -1 is out of range`},
		{"empty match", "    match:\n      series_description: \"(?i)t1\"", "    match: {series_description: \"\"}",
			`site.yaml:20: rules.t1_fallback.match has no pattern`},
		{"black equals bright", "      series_description: \"(?i)VISIBLE.*WB\"\n      protocol_name: \"(?i)brain\"", "      series_description: \"(?i)VISIBLE.*BB\"",
			`site.yaml:12: rules.visible.bright is the same as black`},
		{"both disabled", "    enabled: true\n    filter:\n      require_original", "    enabled: false\n    filter:\n      require_original",
			""},
		{"watermark", "high_watermark_percent: 80", "high_watermark_percent: 100",
			`site.yaml:24: retention.high_watermark_percent 100 is out of range`},
		{"free space", "min_free_mb: 2048", "min_free_mb: 1",
			`site.yaml:25: retention.min_free_mb 1 is out of range`},
		{"age", "max_age_days: 14", "max_age_days: -3",
			`site.yaml:23: retention.max_age_days -3 is out of range`},
		{"unknown retention key", "max_age_days: 14", "max_age: 14",
			`site.yaml:23: unknown key "max_age" in retention`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(rulesSite, tc.old) {
				t.Fatalf("site has no %q", tc.old)
			}
			src := strings.Replace(rulesSite, tc.old, tc.new, 1)
			if tc.name == "both disabled" {
				src = strings.Replace(src, "  t1_fallback:\n    enabled: true", "  t1_fallback:\n    enabled: false", 1)
				tc.want = "site.yaml:2: rules: both visible and t1_fallback are disabled"
			}
			_, err := ParseSite("site.yaml", []byte(src))
			ps := AsProblems(err)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(ps), err)
			}
			if !strings.HasPrefix(ps[0].String(), tc.want) {
				t.Fatalf("problem\n  %s\nwant it to start with\n  %s", ps[0], tc.want)
			}
		})
	}
}

// TestExampleSiteRules: the example site file spells out the default rules
// and retention, so an engineer who edits it starts from what runs.
func TestExampleSiteRules(t *testing.T) {
	s, err := LoadSite("../cmd/metsentryd/site.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(DefaultRules(), s.Rules); d != "" {
		t.Errorf("example rules differ from the defaults (-default +example):\n%s", d)
	}
	if d := cmp.Diff(DefaultRetention(), s.Retention); d != "" {
		t.Errorf("example retention differs from the defaults (-default +example):\n%s", d)
	}
}

func TestSiteSplitRule(t *testing.T) {
	const split = `ae_title: METSENTRY
rules:
  visible:
    split:
      enabled: true
      match: {series_description: "(?i)visible"}
      attribute: echo_numbers
      black: "^2$"
      bright: "^1$"
`
	s, err := ParseSite("site.yaml", []byte(split))
	if err != nil {
		t.Fatalf("good split rule refused:\n%v", err)
	}
	want := SplitRule{Enabled: true, Match: SeriesMatch{SeriesDescription: "(?i)visible"}, Attribute: SplitByEchoNumbers, Black: "^2$", Bright: "^1$"}
	if d := cmp.Diff(want, s.Rules.Visible.Split); d != "" {
		t.Errorf("split (-want +got):\n%s", d)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"attribute", "attribute: echo_numbers", "attribute: private_tag", `site.yaml:7: rules.visible.split.attribute "private_tag" is not an attribute`},
		{"bad pattern", `black: "^2$"`, `black: "(2"`, `site.yaml:8: rules.visible.split.black "(2" is not a valid regular expression`},
		{"empty pattern", `bright: "^1$"`, `bright: ""`, `site.yaml:9: rules.visible.split.bright is empty`},
		{"same patterns", `bright: "^1$"`, `bright: "^2$"`, `site.yaml:9: rules.visible.split.bright is the same as black`},
		{"no match", `match: {series_description: "(?i)visible"}`, `match: {}`, `site.yaml:6: rules.visible.split.match has no pattern`},
		{"unknown key", "attribute: echo_numbers", "attr: echo_numbers", `site.yaml:7: unknown key "attr" in rules.visible.split`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(split, tc.old, tc.new, 1)
			_, err := ParseSite("site.yaml", []byte(src))
			ps := AsProblems(err)
			if len(ps) == 0 || !strings.HasPrefix(ps[0].String(), tc.want) {
				t.Fatalf("problems:\n%v\nwant the first to start with\n  %s", err, tc.want)
			}
		})
	}
}
