package intake

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
)

const study = "1.2.826.0.1.3680043.10.1599.1"

// philips returns n central slices of the real Philips sagittal MPRAGE,
// starting at slice first.
func philips(t *testing.T, first, n int) []string {
	f := sharedFiles(t, "dicom", "philips-mprage-sag3d")
	if len(f) != 170 {
		t.Fatalf("%d Philips files, want 170", len(f))
	}
	return f[first : first+n]
}

func visibleSeries(src []string, uid string, number int, desc string) seriesSpec {
	return seriesSpec{src: src, study: study, uid: uid, number: number, description: desc,
		imageType: `ORIGINAL\PRIMARY\M\NORM`, acq: "3D", contrast: "GADOBUTROL"}
}

func hasLine(lines []string, sub string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, sub) })
}

func selectedOf(j cache.Job) string {
	var s []string
	for _, x := range j.Series {
		s = append(s, fmt.Sprintf("%d:%s", x.SeriesNumber, x.Role))
	}
	return strings.Join(s, " ")
}

// expectOneJob checks the study has exactly one job, in state, selecting want.
func (e *env) expectOneJob(state, rule, want string) cache.Job {
	e.t.Helper()
	jobs := e.jobs()
	if len(jobs) != 1 {
		e.t.Fatalf("%d jobs, want 1: %+v", len(jobs), jobs)
	}
	j := jobs[0]
	if j.State != state || j.Rule != rule || selectedOf(j) != want {
		e.t.Fatalf("job %s rule %q series %q (reason %q); want %s %q %q", j.State, j.Rule, selectedOf(j), j.Reason, state, rule, want)
	}
	return j
}

func TestVisiblePair(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 12)
	local := visibleSeries(src[:3], study+".1", 1, "Survey")
	local.acq = "2D"
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB post")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB post")
	e.send(local, 0, 3)
	e.send(black, 0, 12)
	blackLast := e.clk.Now().Add(-time.Second)
	e.send(bright, 0, 12)

	// The localizer is quiet already; the next deadline is the black series'.
	r := e.evaluate()
	if len(r.Ready) != 0 || !r.Next.Equal(blackLast.Add(20*time.Second)) {
		t.Fatalf("before the quiet period: %+v; want nothing ready, next at %v", r, blackLast.Add(20*time.Second))
	}
	e.clk.Add(19 * time.Second)
	r = e.evaluate()
	if len(r.Ready) != 1 {
		t.Fatalf("after the quiet period: %+v; want one job ready", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
	sel := e.audit("select")
	for _, want := range []string{
		"series 1 skipped for the VISIBLE pair: MRAcquisitionType 2D (3D required)",
		"VISIBLE pair chosen: series 3 (black) + series 4 (bright), 24 images",
	} {
		if !hasLine(sel, want) {
			t.Errorf("audit lacks %q; has:\n%s", want, strings.Join(sel, "\n"))
		}
	}
	// Exactly once: later passes change nothing.
	e.clk.Add(time.Hour)
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 || !r.Next.IsZero() {
		t.Fatalf("second pass decided again: %+v", r)
	}
	if n := len(e.audit("study-ready")); n != 1 {
		t.Fatalf("%d study-ready events, want 1", n)
	}
}

func TestSingleT1(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 80, 8)
	t1 := visibleSeries(src, study+".7", 7, "T1 MPRAGE +C")
	flair := visibleSeries(src, study+".8", 8, "FLAIR 3D")
	flair.contrast = ""
	e.send(flair, 0, 8)
	e.send(t1, 0, 8)
	e.clk.Add(20 * time.Second)
	e.evaluate()
	e.expectOneJob(cache.JobReady, RuleT1, "7:t1")
	sel := e.audit("select")
	for _, want := range []string{
		`series 7 skipped for the VISIBLE pair: not black-blood (SeriesDescription "T1 MPRAGE +C" does not match`,
		"series 8 skipped for the T1 fallback: no ContrastBolusAgent",
		"T1 fallback chosen: series 7, 8 images",
	} {
		if !hasLine(sel, want) {
			t.Errorf("audit lacks %q; has:\n%s", want, strings.Join(sel, "\n"))
		}
	}
}

// TestNoMatchingSeries sends the real Philips MPRAGE as it is (no contrast):
// the study is skipped with a clear reason, not failed.
func TestNoMatchingSeries(t *testing.T) {
	e := newEnv(t, nil)
	for _, f := range philips(t, 60, 10) {
		e.put(rewrite(t, f, nil))
		e.clk.Add(time.Second)
	}
	e.clk.Add(20 * time.Second)
	r := e.evaluate()
	if len(r.Skipped) != 1 || len(r.Ready) != 0 {
		t.Fatalf("result %+v; want one skipped", r)
	}
	j := e.expectOneJob(cache.JobSkipped, "", "")
	if j.Reason != "no matching series" {
		t.Errorf("job reason %q", j.Reason)
	}
	sel := e.audit("select")
	for _, want := range []string{
		"series 1301 skipped for the VISIBLE pair: no ContrastBolusAgent (a post-contrast series is required)",
		"series 1301 skipped for the T1 fallback: no ContrastBolusAgent",
		"no matching series among 1: nothing to read (not a fault)",
	} {
		if !hasLine(sel, want) {
			t.Errorf("audit lacks %q; has:\n%s", want, strings.Join(sel, "\n"))
		}
	}
	e.store.View(func(tx *cache.Tx) error {
		st, _, _ := tx.Study(j.StudyInstanceUID)
		if st.State != cache.StudySkipped {
			t.Errorf("study %s, want skipped", st.State)
		}
		return nil
	})
}

func TestTwoCandidatePairs(t *testing.T) {
	e := newEnv(t, nil)
	a := philips(t, 70, 10)
	b := philips(t, 100, 8)
	pairs := []seriesSpec{
		visibleSeries(b, study+".5", 5, "VISIBLE BB"), visibleSeries(b, study+".6", 6, "VISIBLE WB"),
		visibleSeries(a, study+".9", 9, "VISIBLE BB"), visibleSeries(a, study+".10", 10, "VISIBLE WB"),
	}
	pairs[0].frameOfRef, pairs[1].frameOfRef = "1.2.826.0.1.3680043.10.1599.77", "1.2.826.0.1.3680043.10.1599.77"
	for _, p := range pairs {
		e.send(p, 0, len(p.src))
	}
	e.clk.Add(20 * time.Second)
	e.evaluate()
	e.expectOneJob(cache.JobReady, RuleVisible, "9:black 10:bright")
	sel := e.audit("select")
	for _, want := range []string{
		"VISIBLE pair chosen: series 9 (black) + series 10 (bright), 20 images",
		"VISIBLE pair series 5 + series 6 not chosen: 16 images, fewer than 20",
		"series 5 (black) and series 10 (bright) are not one acquisition: FrameOfReferenceUID differs",
	} {
		if !hasLine(sel, want) {
			t.Errorf("audit lacks %q; has:\n%s", want, strings.Join(sel, "\n"))
		}
	}
}

func TestPairGeometryMustMatch(t *testing.T) {
	e := newEnv(t, nil)
	black := visibleSeries(philips(t, 70, 6), study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(philips(t, 90, 6), study+".4", 4, "VISIBLE WB") // other slices
	e.send(black, 0, 6)
	e.send(bright, 0, 6)
	e.clk.Add(20 * time.Second)
	e.evaluate()
	e.expectOneJob(cache.JobSkipped, "", "")
	if sel := e.audit("select"); !hasLine(sel, "series 3 (black) and series 4 (bright) are not one acquisition: slice range") {
		t.Errorf("audit lacks the slice-range reason:\n%s", strings.Join(sel, "\n"))
	}
}

func TestLateInstance(t *testing.T) {
	e := newEnv(t, nil)
	t1 := visibleSeries(philips(t, 80, 7), study+".7", 7, "T1 3D +C")
	e.send(t1, 0, 6)
	e.clk.Add(20 * time.Second)
	e.evaluate()
	first := e.expectOneJob(cache.JobReady, RuleT1, "7:t1")
	// The job runs; then the seventh slice arrives.
	e.store.Update(func(tx *cache.Tx) error {
		_, err := tx.SetJobState(first.ID, cache.JobRunning, "test", nil)
		return err
	})
	e.send(t1, 6, 7)
	jobs := e.jobs()
	if len(jobs) != 2 || jobs[1].State != cache.JobWaiting || jobs[1].Generation != 2 || jobs[0].State != cache.JobRunning {
		t.Fatalf("after a late instance: %+v; want the first job untouched and a second waiting (generation 2)", jobs)
	}
	if !hasLine(e.audit("late-instance"), fmt.Sprintf("new instance in series 7 after job %d was decided", first.ID)) {
		t.Errorf("no late-instance audit: %q", e.audit(""))
	}
	e.clk.Add(20 * time.Second)
	r := e.evaluate()
	if len(r.Ready) != 1 || r.Ready[0] != jobs[1].ID {
		t.Fatalf("second generation: %+v", r)
	}
	j2 := e.jobs()[1]
	if j2.State != cache.JobReady || j2.Series[0].Count != 7 {
		t.Fatalf("second job %+v; want ready over 7 instances", j2)
	}
	// A duplicate of an instance already stored is not a late instance.
	e.send(t1, 3, 4)
	if n := len(e.jobs()); n != 2 {
		t.Fatalf("a duplicate made a new job (%d jobs)", n)
	}
}

// TestExpectedCount: series whose images agree on their size complete as
// soon as the last instance is stored and the association is released; a
// candidate still arriving holds the study.
func TestExpectedCount(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	n := map[tag.Tag][]string{tag.ImagesInAcquisition: {"8"}}
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
	black.extra, bright.extra = n, n
	e.send(black, 0, 8)
	if r := e.evaluate(); len(r.Ready) != 0 || len(e.audit("series-complete")) != 0 {
		t.Fatalf("a series complete before its association was released: %+v %q", r, e.audit("series-complete"))
	}
	e.in.Released("") // the test's instances record no remote
	e.send(bright, 0, 5)
	if r := e.evaluate(); len(r.Ready) != 0 {
		t.Fatalf("ready while a candidate series is arriving: %+v", r)
	}
	if c := e.audit("series-complete"); len(c) != 1 || !strings.Contains(c[0], "series 3 complete: association released; 8 of 8 instances, every image agreeing (ImagesInAcquisition)") {
		t.Fatalf("series-complete audit %q", c)
	}
	e.send(bright, 5, 8)
	e.in.Released("")
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready right after the last announced instance: %+v", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
}

// TestGEPartialSeries: the real GE series announces 130 images; 10 arrive
// (a sender cut off by a crash or a full disk). The quiet period does not
// complete it: it waits for the rest until max_wait, whose on_timeout
// decides, and the reason says so (issue 25, item 5).
func TestGEPartialSeries(t *testing.T) {
	e := newEnv(t, nil)
	for _, f := range sharedFiles(t, "dicom", "ge-mprage-ax-oblique")[:10] {
		e.put(rewrite(t, f, nil))
		e.clk.Add(time.Second)
	}
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("decided before the quiet period: %+v", r)
	}
	e.clk.Add(19 * time.Second)
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("10 of 130 announced instances decided after the quiet period: %+v", r)
	}
	if c := e.audit("series-complete"); len(c) != 0 {
		t.Fatalf("series-complete audit %q for a series cut short", c)
	}
	e.clk.Add(config.DefaultMaxWait)
	e.evaluate()
	if c := e.audit("series-complete"); len(c) != 1 || !strings.Contains(c[0], "maximum wait") || !strings.Contains(c[0], "with 10 instances") {
		t.Fatalf("series-complete audit at max_wait %q", c)
	}
}

func TestEnhancedMultiFrameCompleteOnReceipt(t *testing.T) {
	e := newEnv(t, nil)
	for _, f := range sharedFiles(t, "dicom", "dicom2nifti-fixtures", "philips_enhanced_anatomical_001") {
		e.put(rewrite(t, f, nil))
	}
	r := e.evaluate() // no time has passed
	if len(r.Ready)+len(r.Skipped) != 1 {
		t.Fatalf("enhanced multi-frame study not decided on receipt: %+v", r)
	}
	if c := e.audit("series-complete"); len(c) != 1 || !strings.Contains(c[0], "Enhanced MR multi-frame instance, complete on receipt") {
		t.Fatalf("series-complete audit %q", c)
	}
}

func TestMaxWait(t *testing.T) {
	for _, tc := range []struct {
		action string
		state  string
		reason string
	}{
		{OnTimeoutProceed, cache.JobReady, "t1_fallback rule: series 7 (t1)"},
		{OnTimeoutDiscard, cache.JobSkipped, "maximum wait 2m0s reached with 1 series incomplete; discarded (on_timeout: discard)"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			e := newEnv(t, func(s *config.Site) {
				s.Completeness.MaxWait, s.Completeness.OnTimeout = 2*time.Minute, tc.action
			})
			t1 := visibleSeries(philips(t, 80, 10), study+".7", 7, "T1 3D +C")
			for i := 0; i < 8; i++ { // one every 15 s: the 20 s quiet period never passes
				e.send(t1, i, i+1)
				e.clk.Add(14 * time.Second)
				r := e.evaluate()
				if i < 7 && len(r.Ready)+len(r.Skipped) != 0 {
					t.Fatalf("decided after %d instances, before the maximum wait: %+v", i+1, r)
				}
			}
			jobs := e.jobs()
			if len(jobs) != 1 || jobs[0].State != tc.state || jobs[0].Reason != tc.reason {
				t.Fatalf("jobs %+v; want one %s: %q", jobs, tc.state, tc.reason)
			}
		})
	}
}

func TestCompileRulesRefusesBadPattern(t *testing.T) {
	r := config.DefaultRules()
	r.Visible.Black.SequenceName = "(["
	if _, err := CompileRules(r); err == nil || !strings.Contains(err.Error(), "intake: rules.visible.black") {
		t.Fatalf("CompileRules = %v", err)
	}
}

func TestFilterReasons(t *testing.T) {
	f := config.DefaultRules().Visible.Filter
	base := cache.Header{ImageType: []string{"ORIGINAL", "PRIMARY", "M"}, MRAcquisitionType: "3D", ContrastBolusAgent: "GD", SliceThickness: 1}
	for _, tc := range []struct {
		name string
		edit func(*cache.Header)
		want string
	}{
		{"passes", func(*cache.Header) {}, ""},
		{"derived", func(h *cache.Header) { h.ImageType = []string{"ORIGINAL", "PRIMARY", "DERIVED"} }, `ImageType ORIGINAL\PRIMARY\DERIVED is DERIVED`},
		{"secondary", func(h *cache.Header) { h.ImageType = []string{"DERIVED", "SECONDARY"} }, `ImageType DERIVED\SECONDARY is not ORIGINAL\PRIMARY`},
		{"2D", func(h *cache.Header) { h.MRAcquisitionType = "2D" }, "MRAcquisitionType 2D (3D required)"},
		{"no acquisition type", func(h *cache.Header) { h.MRAcquisitionType = "" }, "MRAcquisitionType absent (3D required)"},
		{"no contrast", func(h *cache.Header) { h.ContrastBolusAgent = " " }, "no ContrastBolusAgent (a post-contrast series is required)"},
		{"thick", func(h *cache.Header) { h.SliceThickness = 2 }, "SliceThickness 2 mm (at most 1.5 mm required)"},
		{"thickness 1.5 passes", func(h *cache.Header) { h.SliceThickness = 1.5 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base
			tc.edit(&h)
			if d := cmp.Diff(tc.want, filterWhy(f, h)); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestOneOnEverySlice: a GE series carries ImagesInAcquisition 1 on every
// slice. Its first slice is not a complete series; once the association is
// released, its slices forming one regular stack make it complete, and the
// study becomes one ready job, not one per slice.
func TestOneOnEverySlice(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	// A field of view of 7.7 mm, so that the 8 slices (1 mm apart) cover a
	// whole volume (regularStack wants at least half the field of view).
	one := map[tag.Tag][]string{tag.ImagesInAcquisition: {"1"}, tag.PixelSpacing: {"0.03", "0.03"}}
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
	black.extra, bright.extra = one, one
	e.send(black, 0, 1)
	if r := e.evaluate(); len(r.Ready) != 0 || len(e.audit("series-complete")) != 0 {
		t.Fatalf("one slice made a series complete: %+v %q", r, e.audit("series-complete"))
	}
	e.send(black, 1, 8)
	e.send(bright, 0, 8)
	if r := e.evaluate(); len(r.Ready) != 0 {
		t.Fatalf("ready before the association was released or the quiet period passed: %+v", r)
	}
	e.in.Released("")
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready once released: %+v", r)
	}
	if c := e.audit("series-complete"); len(c) != 2 || !strings.Contains(c[0], "association released; 8 slices form a regular volume") {
		t.Fatalf("series-complete audit %q", c)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
}

// TestBrightOnly: the bright-blood series of a VISIBLE acquisition alone
// ("VISIBLE bright CE", which the T1 fallback's patterns do not match) is
// read as a bright-only study, not skipped.
func TestBrightOnly(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	bright := visibleSeries(src, study+".4", 4, "VISIBLE bright CE")
	e.send(bright, 0, 8)
	e.clk.Add(time.Minute)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready: %+v; audit %q", r, e.audit(""))
	}
	e.expectOneJob(cache.JobReady, RuleBrightOnly, "4:bright")
	if !hasLine(e.audit("select"), "read alone as a bright-only study") {
		t.Errorf("no bright-only decision in %q", e.audit("select"))
	}
}

// TestCutShortSeriesWaits: a sender cut off after 5 of the 8 slices every
// image announces (a crash, a full disk), then released. The 5 slices form a
// regular stack, but the count the images agree on says the series is cut
// short: neither the release nor the quiet period makes it complete; the
// rest, sent later, does (issue 25, item 5).
func TestCutShortSeriesWaits(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	eight := map[tag.Tag][]string{tag.ImagesInAcquisition: {"8"}}
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
	black.extra, bright.extra = eight, eight
	e.send(black, 0, 5)
	e.send(bright, 0, 8)
	e.in.Released("")
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("5 of 8 announced slices decided on release: %+v %q", r, e.audit("series-complete"))
	}
	e.clk.Add(10 * time.Minute) // far past the quiet period, short of max_wait (15 min)
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("5 of 8 announced slices decided after the quiet period: %+v", r)
	}
	e.send(black, 5, 8)
	e.in.Released("")
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready once the rest came: %+v", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
}

// TestRegularPartIsNotAVolume: 8 regular slices 1 mm apart of a 256 mm field
// of view, released, with no count to tell: a part of a volume (a sender
// that splits a series over associations), so only the quiet period
// completes it.
func TestRegularPartIsNotAVolume(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	one := map[tag.Tag][]string{tag.ImagesInAcquisition: {"1"}}
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
	black.extra, bright.extra = one, one
	e.send(black, 0, 8)
	e.send(bright, 0, 8)
	e.in.Released("")
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("8 mm of a 256 mm field of view taken as a whole volume on release: %+v %q", r, e.audit("series-complete"))
	}
	e.clk.Add(config.DefaultQuietPeriod)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready after the quiet period: %+v", r)
	}
}

// TestLateSeriesReopensOnce: a series sent after the study's job was decided
// reopens the study once, whatever it holds: one new job, decided when the
// association that carried the late series is released, not one job per
// instance (a study decided between two instances of a late series that no
// rule needs would be reopened by the next one).
func TestLateSeriesReopensOnce(t *testing.T) {
	src := philips(t, 75, 8)
	n := map[tag.Tag][]string{tag.ImagesInAcquisition: {"8"}}
	for _, tc := range []struct {
		name string
		late func() seriesSpec
	}{
		{"a localizer no rule needs", func() seriesSpec {
			s := visibleSeries(src[:5], study+".9", 9, "Survey")
			s.acq, s.contrast = "2D", ""
			return s
		}},
		{"a post-contrast 3D series", func() seriesSpec {
			s := visibleSeries(src, study+".9", 9, "T1 3D +C")
			s.extra = n
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
			bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
			black.extra, bright.extra = n, n
			e.send(black, 0, 8)
			e.send(bright, 0, 8)
			e.in.Released("")
			if r := e.evaluate(); len(r.Ready) != 1 {
				t.Fatalf("first generation not ready on release: %+v", r)
			}
			e.clk.Add(time.Minute) // the job runs; later, another association
			late := tc.late()
			for i := range len(late.src) {
				e.send(late, i, i+1)
				e.evaluate() // as after every stored instance
				jobs := e.jobs()
				if len(jobs) != 2 || jobs[1].Generation != 2 || jobs[1].State != cache.JobWaiting {
					t.Fatalf("after late instance %d: %d jobs %+v; want the first and one waiting second generation", i+1, len(jobs), jobs)
				}
			}
			e.in.Released("")
			if r := e.evaluate(); len(r.Ready) != 1 {
				t.Fatalf("the reopened study is not ready on release: %+v", r)
			}
			if jobs := e.jobs(); len(jobs) != 2 || jobs[1].State != cache.JobReady {
				t.Fatalf("jobs %+v; want two, the second ready", jobs)
			}
		})
	}
}

// TestPerformedStep: a series an MPPS COMPLETED lists is complete as soon as
// every instance it lists is stored, with no release and no quiet period;
// one listed instance missing holds it.
func TestPerformedStep(t *testing.T) {
	e := newEnv(t, nil)
	src := philips(t, 75, 8)
	black := visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright := visibleSeries(src, study+".4", 4, "VISIBLE WB")
	list := func(sp seriesSpec) []string {
		var out []string
		for i := range sp.src {
			out = append(out, fmt.Sprintf("%s.%d", sp.uid, i+1))
		}
		return out
	}
	e.send(black, 0, 8)
	e.send(bright, 0, 7)
	e.in.Performed(map[string][]string{black.uid: list(black), bright.uid: list(bright)})
	if r := e.evaluate(); len(r.Ready) != 0 {
		t.Fatalf("ready with one listed instance missing: %+v", r)
	}
	e.send(bright, 7, 8)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready once every listed instance is stored: %+v", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
	if c := e.audit("series-complete"); len(c) != 2 || !strings.Contains(c[1], "MPPS completed; all 8 instances it lists are stored") {
		t.Errorf("series-complete audit %q", c)
	}
}
