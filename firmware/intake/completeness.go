package intake

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"metsentry/firmware/cache"
)

// released remembers which associations the sender has released, by the
// peer address and port the instances record (cache.Instance.Remote): one
// TCP connection, so one association. Instances received before this intake
// started came on associations that are gone.
type released struct {
	since   time.Time
	mu      sync.Mutex
	remotes map[string]time.Time // remote -> release time
	last    time.Time            // the latest release
}

// Released tells intake that the association from remote (an address:port,
// as the SCP records it) was released: a series it carried can be complete
// by its count or its geometry without waiting for the quiet period. An
// aborted association is not a release.
func (in *Intake) Released(remote string) {
	now := in.clock.Now()
	in.rel.mu.Lock()
	in.rel.remotes[remote] = now
	in.rel.last = now
	// Forget releases older than any wait intake still has.
	for r, t := range in.rel.remotes {
		if now.Sub(t) > in.cfg.MaxWait+time.Hour {
			delete(in.rel.remotes, r)
		}
	}
	in.rel.mu.Unlock()
	in.Wake()
}

// allReleased reports whether every instance came on an association that
// has been released or that ended before intake started (all), and whether
// every release was seen (seen: none of them before the start). An
// association cut by a restart may have been cut halfway through a series,
// so only a seen release lets the slice positions complete a series.
func (r *released) allReleased(insts []cache.Instance) (all, seen bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen = true
	for _, in := range insts {
		if in.ReceivedAt.Before(r.since) {
			seen = false
			continue
		}
		if t, ok := r.remotes[in.Remote]; !ok || in.ReceivedAt.After(t) {
			return false, false
		}
	}
	return true, seen
}

// maybeReleased is the cheap test before reading a series' instances: no
// release since the series' last instance means some association of it is
// still open.
func (r *released) maybeReleased(s cache.Series) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.LastAt.Before(r.since) || !r.last.Before(s.LastAt)
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
// is still open: one received since intake started, on an association not
// released since.
func (r *released) arriving(tx *cache.Tx, s cache.Series) (bool, error) {
	if !r.maybeReleased(s) {
		return true, nil
	}
	insts, err := tx.SeriesInstances(s.StudyInstanceUID, s.SeriesInstanceUID)
	if err != nil {
		return false, err
	}
	all, _ := r.allReleased(insts)
	return !all, nil
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
//     images announce more instances than arrived: then only max_wait
//     (Intake's on_timeout) ends the wait.
func (in *Intake) seriesDue(tx *cache.Tx, s cache.Series, now time.Time) (bool, string, error) {
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
		if s.Expected > 0 {
			return true, fmt.Sprintf("quiet for %v since the last instance, %d of %d expected instances (%s)", in.cfg.QuietPeriod, s.Count, s.Expected, s.ExpectedFrom), nil
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
