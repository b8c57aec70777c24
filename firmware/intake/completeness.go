package intake

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"metsentry/firmware/cache"
)

// released remembers how the associations that carried instances ended, by
// the peer address and port the instances record (cache.Instance.Remote):
// one TCP connection, so one association. A clean release (every instance
// it sent stored) is kept durably in the cache (cache.Release), so it
// outlives a restart; an association that ended otherwise (aborted, broken,
// an instance refused) is remembered for this run, and one that carried
// instances before this intake started with no release recorded was cut by
// the restart.
type released struct {
	since   time.Time
	mu      sync.Mutex
	remotes map[string]time.Time // clean releases: remote -> release time
	cut     map[string]time.Time // ended otherwise since the start: remote -> end time
	last    time.Time            // the latest clean release
	lastEnd time.Time            // the latest end of any kind
}

// assocState is how the association that carried an instance has ended.
type assocState int

const (
	assocOpen     assocState = iota // still open: more may come on it
	assocReleased                   // released cleanly after the instance
	assocCut                        // aborted, broken or refused an instance, since the start
	assocRestart                    // cut by a restart: before the start, no release recorded
)

// state says how the association from remote that carried an instance at
// time at ended. Call with r.mu held.
func (r *released) state(remote string, at time.Time) assocState {
	if t, ok := r.remotes[remote]; ok && !at.After(t) {
		return assocReleased
	}
	if t, ok := r.cut[remote]; ok && !at.After(t) {
		return assocCut
	}
	if at.Before(r.since) {
		return assocRestart
	}
	return assocOpen
}

// loadReleases reads the clean releases the cache recorded before this
// start. Without them every association from before the start counts as cut
// by the restart, which only makes intake wait longer.
func (in *Intake) loadReleases() {
	var rel map[string]time.Time
	err := in.store.View(func(tx *cache.Tx) error {
		var err error
		rel, err = tx.Releases()
		return err
	})
	if err != nil {
		in.log.Error("intake: reading the recorded association releases failed; series received before this start wait for a resend or max_wait", "err", err)
		return
	}
	in.rel.mu.Lock()
	defer in.rel.mu.Unlock()
	for r, t := range rel {
		in.rel.remotes[r] = t
		if t.After(in.rel.last) {
			in.rel.last = t
		}
	}
	in.rel.lastEnd = in.rel.last
}

// Released tells intake that the association from remote (an address:port,
// as the SCP records it) was released with every instance it sent stored:
// a series it carried can be complete by its count or its geometry without
// waiting for the quiet period. The release is recorded in the cache first,
// so it still counts after a restart; every instance acknowledged on the
// association must be recorded before (cache.Store.Flush). An association
// that ended any other way is Cut.
func (in *Intake) Released(remote string) error {
	now := in.clock.Now()
	if err := in.store.RecordRelease(cache.Release{Remote: remote, At: now}, in.cfg.MaxWait+time.Hour); err != nil {
		// Not recorded, it is not trusted: the association looks cut.
		in.Cut(remote)
		return fmt.Errorf("intake: record a release: %w", err)
	}
	in.rel.mu.Lock()
	in.rel.remotes[remote] = now
	in.rel.last, in.rel.lastEnd = now, now
	in.rel.forget(now, in.cfg.MaxWait+time.Hour)
	in.rel.mu.Unlock()
	in.Wake()
	return nil
}

// Cut tells intake that the association from remote ended without a clean
// release: aborted by either side, broken, timed out, or released after
// refusing an instance. What it carried may be part of a series whose
// sender owes a resend: a series it fed last, whose images announce no
// count, is not complete by the quiet period; it waits for the resend (a new
// association that sends it again, duplicates included, and releases) or
// for completeness.max_wait.
func (in *Intake) Cut(remote string) {
	now := in.clock.Now()
	in.rel.mu.Lock()
	in.rel.cut[remote] = now
	in.rel.lastEnd = now
	in.rel.forget(now, in.cfg.MaxWait+time.Hour)
	in.rel.mu.Unlock()
	in.Wake()
}

// forget drops ends older than any wait intake still has. Call with r.mu
// held.
func (r *released) forget(now time.Time, keep time.Duration) {
	for _, m := range []map[string]time.Time{r.remotes, r.cut} {
		for k, t := range m {
			if now.Sub(t) > keep {
				delete(m, k)
			}
		}
	}
}

// allReleased reports whether every instance came on an association that
// has been released cleanly or that ended before intake started (all), and
// whether every such association's release is known (seen: none was cut by
// the restart). An association cut by a restart may have been cut halfway
// through a series, so only a known release lets the slice positions
// complete a series.
func (r *released) allReleased(insts []cache.Instance) (all, seen bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen = true
	for _, in := range insts {
		switch r.state(in.Remote, in.ReceivedAt) {
		case assocReleased:
		case assocRestart:
			seen = false
		default:
			return false, false
		}
	}
	return true, seen
}

// maybeReleased is the cheap test before reading a series' instances: no
// release since the series' last instance means some association of it is
// still open or ended without one.
func (r *released) maybeReleased(s cache.Series) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.LastAt.Before(r.since) || !r.last.Before(s.LastAt)
}

// cutOff reports whether the series was in transit when the association
// that last fed it (new instances or duplicates resent) ended without a
// clean release, this run or by a restart: the sender owes a resend. fed is
// when each association last fed any series still receiving; a series the
// association moved on from before it was cut was sent whole (a sender
// sends series one after another; one that interleaves them can still have
// a part analysed, and the rest then reopens the study).
func (r *released) cutOff(s cache.Series, fed map[string]time.Time) bool {
	if t, ok := fed[s.LastRemote]; ok && t.After(s.LastAt) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state(s.LastRemote, s.LastAt)
	return st == assocCut || st == assocRestart
}

// performed holds what the modality's MPPS said it made: for each series
// of a COMPLETED step, the SOP instances it lists.
type performed struct {
	mu     sync.Mutex
	series map[string]listing // by series UID
}

type listing struct {
	uids []string // the SOP instances listed
	at   time.Time
}

// Performed tells intake that the modality completed a procedure step
// (MPPS N-SET COMPLETED) that made these series with these SOP instances:
// the strongest signal there is. A series it lists is complete as soon as
// every instance listed is stored, whether or not its association was
// released. A series listed with no instances is left to the other rules.
func (in *Intake) Performed(series map[string][]string) {
	now := in.clock.Now()
	in.mpps.mu.Lock()
	for s, uids := range series {
		if len(uids) > 0 {
			in.mpps.series[s] = listing{slices.Clone(uids), now}
		}
	}
	// Forget listings older than any wait intake still has.
	for s, l := range in.mpps.series {
		if now.Sub(l.at) > in.cfg.MaxWait+time.Hour {
			delete(in.mpps.series, s)
		}
	}
	in.mpps.mu.Unlock()
	in.Wake()
}

// listed returns the instances an MPPS listed for the series, if any.
func (p *performed) listed(series string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.series[series].uids
}

// performedDue reports whether every instance an MPPS listed for s is
// stored in s.
func (in *Intake) performedDue(tx *cache.Tx, s cache.Series) (bool, string, error) {
	uids := in.mpps.listed(s.SeriesInstanceUID)
	if len(uids) == 0 || s.Count < len(uids) {
		return false, "", nil
	}
	for _, u := range uids {
		got, ok, err := tx.Instance(u)
		if err != nil {
			return false, "", err
		}
		if !ok || got.SeriesInstanceUID != s.SeriesInstanceUID {
			return false, "", nil
		}
	}
	return true, fmt.Sprintf("MPPS completed; all %d instances it lists are stored", len(uids)), nil
}

// arriving reports whether an association that carried some instance of s
// is still open: one received since intake started, on an association that
// has not ended since.
func (r *released) arriving(tx *cache.Tx, s cache.Series) (bool, error) {
	r.mu.Lock()
	ended := s.LastAt.Before(r.since) || !r.lastEnd.Before(s.LastAt)
	r.mu.Unlock()
	if !ended {
		return true, nil
	}
	insts, err := tx.SeriesInstances(s.StudyInstanceUID, s.SeriesInstanceUID)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range insts {
		if r.state(in.Remote, in.ReceivedAt) == assocOpen {
			return true, nil
		}
	}
	return false, nil
}

// minSlices is the fewest slices a volume by geometry may have
// (firmware/volume's default).
const minSlices = 3

// minExtentOfFOV is the least extent across its slices, as a fraction of
// the in-plane field of view, that a regular stack needs to be taken as a
// whole volume on release (regularStack).
const minExtentOfFOV = 0.5

// seriesDue says whether a series is complete at now, and why:
//   - an Enhanced MR multi-frame instance is the whole series;
//   - a series a completed MPPS listed is complete once every instance it
//     listed is stored (Performed);
//   - once every association that carried the series is released (or
//     ended before intake started): its images agree on a count (ImagesInAcquisition, or NumberOfSlices ×
//     NumberOfTemporalPositions, the same on every image) and that many have
//     arrived; or, when they do not (a GE series carries 1 on every slice),
//     their positions form one regular stack of slices (only when every
//     release was seen: an association cut by a restart may have been cut
//     halfway through a series that still looks regular);
//   - otherwise, the quiet period after the last instance, unless the
//     images announce more instances than arrived, or announce no count
//     and the association that fed the series last was cut (Cut, or a
//     restart): then the sender owes a resend, and only the resend or
//     max_wait (Intake's on_timeout) ends the wait.
func (in *Intake) seriesDue(tx *cache.Tx, s cache.Series, now time.Time, fed map[string]time.Time) (bool, string, error) {
	if s.MultiFrame {
		return true, "Enhanced MR multi-frame instance, complete on receipt", nil
	}
	if ok, why, err := in.performedDue(tx, s); ok || err != nil {
		return ok, why, err
	}
	if in.rel.maybeReleased(s) {
		insts, err := tx.SeriesInstances(s.StudyInstanceUID, s.SeriesInstanceUID)
		if err != nil {
			return false, "", err
		}
		all, seen := in.rel.allReleased(insts)
		if len(insts) > 0 && all {
			n, from, agreed := agreedCount(insts)
			if agreed && n == len(insts) {
				return true, fmt.Sprintf("association released; %d of %d instances, every image agreeing (%s)", len(insts), n, from), nil
			}
			// A count the images agree on and have not reached says the
			// series is cut short, however regular the part that came.
			if ok, why := regularStack(insts); ok && seen && !(agreed && n > len(insts)) {
				return true, "association released; " + why, nil
			}
		}
	}
	if !now.Before(s.LastAt.Add(in.cfg.QuietPeriod)) {
		if s.Expected > s.Count {
			// The images announce more than arrived: a sender cut off (a
			// crash, a full disk) resumes later than any quiet period. Wait
			// for the rest until completeness.max_wait, whose on_timeout
			// then decides; never analyse the part as if it were whole.
			return false, "", nil
		}
		if s.Expected > 0 && s.Expected == s.Count {
			return true, fmt.Sprintf("quiet for %v since the last instance, %d of %d expected instances (%s)", in.cfg.QuietPeriod, s.Count, s.Expected, s.ExpectedFrom), nil
		}
		// No count to trust (none, or fewer than arrived: a GE series
		// announces 1 on every slice).
		if in.rel.cutOff(s, fed) {
			// The sender was cut off while sending it: the part that came
			// is not taken for the whole.
			in.noteCut(s)
			return false, "", nil
		}
		if s.Expected > 0 {
			return true, fmt.Sprintf("quiet for %v since the last instance, %d instances (more than the %d the first announced, %s)", in.cfg.QuietPeriod, s.Count, s.Expected, s.ExpectedFrom), nil
		}
		return true, fmt.Sprintf("quiet for %v since the last instance, %d instances", in.cfg.QuietPeriod, s.Count), nil
	}
	return false, "", nil
}

// agreedCount returns the expected count every instance announces, when
// they all announce the same one.
func agreedCount(insts []cache.Instance) (int, string, bool) {
	n, from := cache.ExpectedCount(insts[0].Header)
	if n <= 0 {
		return 0, "", false
	}
	for _, in := range insts[1:] {
		if m, _ := cache.ExpectedCount(in.Header); m != n {
			return 0, "", false
		}
	}
	return n, from, true
}

// regularStack reports whether the instances are one stack of parallel
// slices, one per position, evenly spaced (every step within 10% of the
// median, as firmware/volume requires): a full volume with no gap.
func regularStack(insts []cache.Instance) (bool, string) {
	if len(insts) < minSlices {
		return false, ""
	}
	o := insts[0].ImageOrientation
	if len(o) != 6 {
		return false, ""
	}
	n := [3]float64{o[1]*o[5] - o[2]*o[4], o[2]*o[3] - o[0]*o[5], o[0]*o[4] - o[1]*o[3]}
	d := make([]float64, 0, len(insts))
	for _, in := range insts {
		p, io := in.ImagePosition, in.ImageOrientation
		if len(p) != 3 || len(io) != 6 {
			return false, ""
		}
		for i := range 6 {
			if math.Abs(io[i]-o[i]) > 1e-3 {
				return false, ""
			}
		}
		d = append(d, n[0]*p[0]+n[1]*p[1]+n[2]*p[2])
	}
	slices.Sort(d)
	steps := make([]float64, len(d)-1)
	for i := range steps {
		steps[i] = d[i+1] - d[i]
	}
	sorted := slices.Clone(steps)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if med <= 1e-3 {
		return false, ""
	}
	for _, st := range steps {
		if math.Abs(st-med) > 0.1*med {
			return false, ""
		}
	}
	// No gap is not enough: a sender that splits a series over several
	// associations (or one cut off and resuming) releases after a part
	// that is regular too. A whole-brain 3D series covers across its slices
	// at least half of its in-plane field of view; a smaller part waits for
	// the quiet period.
	extent := d[len(d)-1] - d[0] + med
	h := insts[0].Header
	if len(h.PixelSpacing) == 2 && h.Rows > 0 && h.Columns > 0 {
		fov := min(float64(h.Rows)*h.PixelSpacing[0], float64(h.Columns)*h.PixelSpacing[1])
		if extent < minExtentOfFOV*fov {
			return false, ""
		}
	}
	return true, fmt.Sprintf("%d slices form a regular volume (%.2f mm apart, no gap, %.0f mm across)", len(insts), med, extent)
}
