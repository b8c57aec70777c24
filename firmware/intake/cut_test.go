package intake

import (
	"strings"
	"testing"
	"time"

	"github.com/suyashkumar/dicom/pkg/tag"

	"metsentry/firmware/cache"
	"metsentry/firmware/config"
)

// countless returns the black and bright series of a VISIBLE pair whose
// images announce no count to trust (1 on every slice, as GE writes), 8
// slices each: too short a stack to pass for a whole volume on release, so
// only the quiet period, a resend or max_wait can complete them.
func countless(t *testing.T) (black, bright seriesSpec) {
	src := philips(t, 75, 8)
	one := map[tag.Tag][]string{tag.ImagesInAcquisition: {"1"}}
	black = visibleSeries(src, study+".3", 3, "VISIBLE BB")
	bright = visibleSeries(src, study+".4", 4, "VISIBLE WB")
	black.extra, bright.extra = one, one
	return black, bright
}

// TestCountlessCutWaitsForResend: the sender is cut off (its association
// aborted) 5 slices into the bright series, whose images announce no count.
// The quiet period does not take the 5 for the series: it waits, with the
// next deadline at max_wait, not in the past. The black series, which the
// association had moved on from, completes. The sender then resends the
// bright series on a new association (5 duplicates and the 3 missing
// slices) and releases it: the quiet period after that completes it, and
// the study is read with all 8 (issue 25, item 5).
func TestCountlessCutWaitsForResend(t *testing.T) {
	e := newEnv(t, nil)
	black, bright := countless(t)
	first := e.clk.Now()
	e.remote = "192.0.2.7:40001"
	e.send(black, 0, 8)
	e.send(bright, 0, 5)
	e.in.Cut(e.remote)
	e.clk.Add(10 * time.Minute) // far past the quiet period, short of max_wait
	r := e.evaluate()
	if len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("5 slices of a cut series decided after the quiet period: %+v %q", r, e.audit("series-complete"))
	}
	if want := first.Add(config.DefaultMaxWait); !r.Next.Equal(want) {
		t.Errorf("next deadline %v, want max_wait's %v", r.Next, want)
	}
	if c := e.audit("series-complete"); len(c) != 1 || !strings.Contains(c[0], "series 3 complete") {
		t.Fatalf("series-complete audit %q, want the black series only", c)
	}
	e.remote = "192.0.2.7:40002"
	e.send(bright, 0, 8)
	if err := e.in.Released(e.remote); err != nil {
		t.Fatal(err)
	}
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("decided on a release whose series began on a cut association: %+v", r)
	}
	e.clk.Add(config.DefaultQuietPeriod)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready after the resend and the quiet period: %+v", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
	var n int
	e.store.View(func(tx *cache.Tx) error {
		insts, err := tx.SeriesInstances(study, bright.uid)
		n = len(insts)
		return err
	})
	if n != 8 {
		t.Errorf("bright series holds %d instances, want 8", n)
	}
}

// TestCountlessCutByRestart: the daemon stops (a crash, a power loss) after
// every slice was stored but before the sender's release: after the restart
// the series it was sending counts as cut, not complete, after the quiet
// period. The sender resends the slices whose answers it lost (all
// duplicates now) and releases: that resend is what completes it.
func TestCountlessCutByRestart(t *testing.T) {
	e := newEnv(t, nil)
	black, bright := countless(t)
	e.remote = "192.0.2.7:40001"
	e.send(black, 0, 8)
	e.send(bright, 0, 8)
	e.clk.Add(time.Minute)
	e.in = New(e.store, e.cfg, e.clk, nil) // the restart
	e.clk.Add(10 * time.Minute)
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("a series cut by a restart decided after the quiet period: %+v %q", r, e.audit("series-complete"))
	}
	e.remote = "192.0.2.7:40002"
	e.send(bright, 6, 8) // duplicates
	if err := e.in.Released(e.remote); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(config.DefaultQuietPeriod)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("not ready after the resend of duplicates and the quiet period: %+v", r)
	}
	e.expectOneJob(cache.JobReady, RuleVisible, "3:black 4:bright")
}

// TestReleaseOutlivesRestart: a release recorded before a restart still
// counts after it: the released series is not taken for cut, and the quiet
// period completes it.
func TestReleaseOutlivesRestart(t *testing.T) {
	e := newEnv(t, nil)
	black, bright := countless(t)
	e.remote = "192.0.2.7:40001"
	e.send(black, 0, 8)
	e.send(bright, 0, 8)
	if err := e.in.Released(e.remote); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Second)
	e.in = New(e.store, e.cfg, e.clk, nil) // the restart
	e.clk.Add(config.DefaultQuietPeriod)
	if r := e.evaluate(); len(r.Ready) != 1 {
		t.Fatalf("a released series not ready after a restart and the quiet period: %+v", r)
	}
}

// TestRefusalIsACut: an association that refused an instance (a full disk:
// A700) and was then released is no clean release (the daemon calls Cut):
// the count-less series it was sending waits for the resend.
func TestRefusalIsACut(t *testing.T) {
	e := newEnv(t, nil)
	black, bright := countless(t)
	e.remote = "192.0.2.7:40001"
	e.send(black, 0, 8)
	e.send(bright, 0, 6)
	e.in.Cut(e.remote)
	e.clk.Add(config.DefaultMaxWait - time.Minute)
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 0 {
		t.Fatalf("decided before max_wait: %+v", r)
	}
	e.clk.Add(2 * time.Minute)
	// on_timeout: proceed; the 6 bright slices no longer pair with the 8
	// black ones, so the study is decided (here: skipped) only now.
	if r := e.evaluate(); len(r.Ready)+len(r.Skipped) != 1 {
		t.Fatalf("not decided at max_wait: %+v", r)
	}
	if c := e.audit("series-complete"); len(c) != 2 || !strings.Contains(c[1], "maximum wait") {
		t.Errorf("series-complete audit %q, want the bright series by max_wait", c)
	}
}
