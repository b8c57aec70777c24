package cache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Recovery is what Recover found after an unclean stop.
type Recovery struct {
	TempRemoved    int      // temporary files never acknowledged
	Adopted        int      // instance files with no record, parsed and recorded
	OrphansRemoved int      // instance files with no record that were not usable
	MissingFiles   []string // records whose file is gone (paths relative to the store)
	JobsResumed    []uint64 // jobs found running, made ready again
}

// Recover repairs what a crash can leave, and is run by Open:
//   - temporary files are removed (the SCP never answered Success for them);
//   - an instance file with no record (crash between rename and commit) is
//     adopted when it parses and its SOP instance is not recorded, otherwise
//     removed, so no file is left behind;
//   - jobs found running are made ready again, to be run from the start;
//   - records whose file is missing are reported (they stay; the audit log
//     says which), since deleting data silently would hide a fault.
func (s *Store) Recover() (Recovery, error) {
	var rec Recovery
	tmp := filepath.Join(s.dir, TempDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return rec, fmt.Errorf("cache: read %s: %w", tmp, err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rec, fmt.Errorf("cache: remove temporary file: %w", err)
		}
		rec.TempRemoved++
	}

	known := map[string]bool{}
	if err := s.View(func(t *Tx) error {
		return t.AllInstances(func(in Instance) error { known[in.Path] = true; return nil })
	}); err != nil {
		return rec, err
	}
	seen := map[string]bool{}
	root := filepath.Join(s.dir, InstanceDir)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(s.dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if known[rel] {
			seen[rel] = true
			return nil
		}
		adopted, err := s.adopt(path, rel)
		if err != nil {
			return err
		}
		if adopted {
			rec.Adopted++
			seen[rel] = true
			return nil
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("cache: remove orphan instance file: %w", err)
		}
		rec.OrphansRemoved++
		return nil
	})
	if err != nil {
		return rec, fmt.Errorf("cache: recover instance files: %w", err)
	}
	for p := range known {
		if !seen[p] {
			rec.MissingFiles = append(rec.MissingFiles, p)
		}
	}
	if rec.Adopted+rec.OrphansRemoved > 0 {
		_ = syncDir(root)
	}

	err = s.Update(func(t *Tx) error {
		var running []uint64
		if err := t.Jobs(func(j Job) error {
			if j.State == JobRunning {
				running = append(running, j.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range running {
			if _, err := t.SetJobState(id, JobReady, "resumed after restart (was running)", nil); err != nil {
				return err
			}
		}
		rec.JobsResumed = running
		if rec.Adopted+rec.OrphansRemoved+rec.TempRemoved+len(rec.MissingFiles)+len(running) == 0 {
			return nil
		}
		return t.Audit(AuditEvent{Kind: "recover", Msg: rec.String()})
	})
	if err != nil {
		return rec, err
	}
	if (rec.Adopted + rec.OrphansRemoved + rec.TempRemoved + len(rec.MissingFiles) + len(rec.JobsResumed)) > 0 {
		s.log.Info("cache: recovered after unclean stop", "summary", rec.String())
	}
	return rec, nil
}

// String summarises a recovery for the audit log.
func (r Recovery) String() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.TempRemoved, "unacknowledged temporary files removed")
	add(r.Adopted, "unrecorded instance files adopted")
	add(r.OrphansRemoved, "unusable unrecorded instance files removed")
	add(len(r.MissingFiles), "recorded instance files missing")
	add(len(r.JobsResumed), "running jobs made ready again")
	if len(parts) == 0 {
		return "nothing to recover"
	}
	return strings.Join(parts, ", ")
}

// adopt records an instance file found with no record. It returns false when
// the file is not usable DICOM, is not at the path its content implies, or
// its SOP instance is already recorded with another file (an uncommitted
// replacement, never acknowledged).
func (s *Store) adopt(path, rel string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("cache: open orphan: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return false, fmt.Errorf("cache: read orphan: %w", err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	dsSum, err := dataSetSHA256(f)
	if err != nil {
		return false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	hdr, err := ParseHeader(f, size)
	if err != nil {
		return false, nil
	}
	if InstancePath(hdr.SOPInstanceUID, sum) != rel {
		return false, nil
	}
	adopted := false
	err = s.Update(func(t *Tx) error {
		if _, ok, err := t.Instance(hdr.SOPInstanceUID); err != nil || ok {
			return err
		}
		in := Instance{Header: hdr, Path: rel, Size: size, SHA256: sum, DataSetSHA256: dsSum, ReceivedAt: s.opt.Now()}
		if _, err := t.applyInstance(in); err != nil {
			return err
		}
		adopted = true
		return t.Audit(AuditEvent{Kind: "adopt", Study: hdr.StudyInstanceUID, Series: hdr.SeriesInstanceUID,
			Msg: fmt.Sprintf("instance file with no record adopted into series %d (crash between rename and commit)", hdr.SeriesNumber)})
	})
	return adopted, err
}
