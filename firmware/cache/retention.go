package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"
)

// Retention says when received studies and their results are purged.
type Retention struct {
	// MaxAge purges a study whose last instance arrived longer ago (0: no
	// age limit).
	MaxAge time.Duration
	// HighWatermark is a used fraction of the file system (0 to 1) above
	// which purgeable studies are removed oldest first until usage is below
	// it again (0: off).
	HighWatermark float64
}

// PurgeResult says what Purge removed and what it had to keep.
type PurgeResult struct {
	Studies []string // purged study UIDs
	Files   int
	Bytes   int64
	Kept    int // studies past a limit that could not be purged (results not delivered)
}

// purgeable reports whether a study may be removed: nothing is arriving and
// every job of it ended with nothing left to deliver (delivered, failed with
// no result, or skipped). A study whose results wait in the outbox (reported)
// or could not be delivered (dead) is never purged.
func (t *Tx) purgeable(st Study) (bool, []string, error) {
	if st.State == StudyReceiving {
		return false, nil, nil
	}
	ok := true
	jobs := map[uint64]bool{}
	err := t.Jobs(func(j Job) error {
		if j.StudyInstanceUID != st.StudyInstanceUID {
			return nil
		}
		jobs[j.ID] = true
		if j.State != JobDelivered && j.State != JobFailed && j.State != JobSkipped && j.State != JobSuperseded {
			ok = false
		}
		return nil
	})
	if err != nil || !ok {
		return false, nil, err
	}
	var results []string
	err = t.Outbox(func(e OutboxEntry) error {
		if jobs[e.JobID] && e.Path != "" && !slices.Contains(results, e.Path) {
			results = append(results, e.Path)
		}
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	err = t.Deliveries(func(d Delivery) error {
		for _, p := range d.Files {
			if jobs[d.JobID] && p != "" && !slices.Contains(results, p) {
				results = append(results, p)
			}
		}
		return nil
	})
	return true, results, err
}

// Purge applies the retention policy: studies older than MaxAge, then oldest
// first while the disk is above HighWatermark, never a study whose results
// are not delivered. Each purge is written to the audit log with its reason.
func (s *Store) Purge(p Retention) (PurgeResult, error) {
	var res PurgeResult
	type cand struct {
		st      Study
		results []string
	}
	var cands []cand
	now := s.opt.Now()
	err := s.View(func(t *Tx) error {
		return t.Studies(func(st Study) error {
			ok, results, err := t.purgeable(st)
			if err != nil {
				return err
			}
			old := p.MaxAge > 0 && now.Sub(st.LastAt) > p.MaxAge
			if !ok {
				if old {
					res.Kept++
				}
				return nil
			}
			cands = append(cands, cand{st, results})
			return nil
		})
	})
	if err != nil {
		return res, err
	}
	slices.SortFunc(cands, func(a, b cand) int { return a.st.LastAt.Compare(b.st.LastAt) })
	for _, c := range cands {
		reason := ""
		if p.MaxAge > 0 && now.Sub(c.st.LastAt) > p.MaxAge {
			reason = fmt.Sprintf("older than %v", p.MaxAge)
		} else if p.HighWatermark > 0 {
			d, err := s.Disk()
			if err != nil {
				return res, err
			}
			if d.UsedFraction() > p.HighWatermark {
				reason = fmt.Sprintf("disk %.0f%% used, above the %.0f%% watermark; oldest delivered study first", 100*d.UsedFraction(), 100*p.HighWatermark)
			}
		}
		if reason == "" {
			continue
		}
		if err := s.purgeStudy(c.st.StudyInstanceUID, c.results, reason, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (s *Store) purgeStudy(uid string, results []string, reason string, res *PurgeResult) error {
	var files []string
	err := s.Update(func(t *Tx) error {
		st, ok, err := t.Study(uid)
		if err != nil || !ok {
			return err
		}
		// Check again inside the write: an instance may have arrived.
		if ok, _, err := t.purgeable(st); err != nil || !ok {
			return err
		}
		files, err = t.deleteStudy(uid)
		if err != nil {
			return err
		}
		return t.Audit(AuditEvent{Kind: "purge", Study: uid,
			Msg: fmt.Sprintf("study purged (%d instance files, %d result files): %s", len(files), len(results), reason)})
	})
	if err != nil || files == nil {
		return err
	}
	for _, f := range append(files, results...) {
		p := s.Path(f)
		if fi, err := os.Stat(p); err == nil {
			res.Bytes += fi.Size()
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cache: purge %s: %w", f, err)
		}
		res.Files++
	}
	res.Studies = append(res.Studies, uid)
	return nil
}
