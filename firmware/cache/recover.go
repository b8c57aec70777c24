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
	TempRemoved    int      // temporary files not usable (empty, partial) or duplicates
	Adopted        int      // instance files with no record, parsed and recorded
	Restored       int      // recorded instances found under their temporary name, moved into place
	OrphansRemoved int      // instance files with no record that were not usable
	MissingFiles   []string // records whose file is gone (paths relative to the store)
	JobsResumed    []uint64 // jobs found running, made ready again
}

// Recover repairs what a crash can leave, and is run by Open:
//   - an instance file with no record (crash before its batch of records
//     was committed) is adopted when it parses and its SOP instance is not
//     recorded, otherwise removed, so no file is left behind;
//   - a temporary file that holds a whole, valid instance was made durable
//     and may have been acknowledged, its rename into place lost to the
//     crash: it is moved into place and adopted when its SOP instance is not
//     recorded, moved to its recorded path when that file is missing and the
//     content is the same, and removed otherwise; an empty or partial one
//     (never acknowledged) is removed;
//   - jobs found running are made ready again, to be run from the start;
//   - records whose file is missing are reported (they stay; the audit log
//     says which), since deleting data silently would hide a fault.
func (s *Store) Recover() (Recovery, error) {
	var rec Recovery
	known := map[string]bool{}
	if err := s.View(func(t *Tx) error {
		return t.AllInstances(func(in Instance) error { known[in.Path] = true; return nil })
	}); err != nil {
		return rec, err
	}
	seen := map[string]bool{}
	root := filepath.Join(s.dir, InstanceDir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
	if err := s.recoverTemp(&rec, known, seen); err != nil {
		return rec, err
	}
	for p := range known {
		if !seen[p] {
			rec.MissingFiles = append(rec.MissingFiles, p)
		}
	}
	if rec.Adopted+rec.OrphansRemoved+rec.Restored > 0 {
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
		if rec.Adopted+rec.Restored+rec.OrphansRemoved+rec.TempRemoved+len(rec.MissingFiles)+len(running) == 0 {
			return nil
		}
		return t.Audit(AuditEvent{Kind: "recover", Msg: rec.String()})
	})
	if err != nil {
		return rec, err
	}
	if (rec.Adopted + rec.Restored + rec.OrphansRemoved + rec.TempRemoved + len(rec.MissingFiles) + len(rec.JobsResumed)) > 0 {
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
	add(r.TempRemoved, "unusable or duplicate temporary files removed")
	add(r.Adopted, "unrecorded instance files adopted")
	add(r.Restored, "recorded instance files restored from their temporary name")
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
	sum, dsSum, size, hdr, ok, err := readInstanceFile(path)
	if err != nil || !ok {
		return false, err
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

// recoverTemp handles the temporary folder after the instance folder was
// walked (known: recorded paths; seen: those found on disk).
func (s *Store) recoverTemp(rec *Recovery, known, seen map[string]bool) error {
	tmp := filepath.Join(s.dir, TempDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("cache: read %s: %w", tmp, err)
	}
	for _, e := range ents {
		path := filepath.Join(tmp, e.Name())
		if fi, err := e.Info(); err == nil && fi.Size() == 0 {
			// A pool file never written: nothing was received into it.
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cache: remove temporary file: %w", err)
			}
			continue
		}
		kept, err := s.recoverTempFile(rec, path, known, seen)
		if err != nil {
			return err
		}
		if kept {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cache: remove temporary file: %w", err)
		}
		rec.TempRemoved++
	}
	return nil
}

// recoverTempFile moves a temporary file holding a valid instance into
// place and reports true, or reports false for a file to remove.
func (s *Store) recoverTempFile(rec *Recovery, path string, known, seen map[string]bool) (bool, error) {
	if !isTemp(filepath.Base(path)) {
		return false, nil
	}
	sum, dsSum, size, hdr, ok, err := readInstanceFile(path)
	if err != nil || !ok {
		return false, err
	}
	rel := InstancePath(hdr.SOPInstanceUID, sum)
	var old Instance
	var recorded bool
	if err := s.View(func(t *Tx) error {
		var err error
		old, recorded, err = t.Instance(hdr.SOPInstanceUID)
		return err
	}); err != nil {
		return false, err
	}
	in := Instance{Header: hdr, Path: rel, Size: size, SHA256: sum, DataSetSHA256: dsSum, ReceivedAt: s.opt.Now()}
	switch {
	case recorded && old.Path == rel && known[rel] && !seen[rel]:
		// Recorded, but the rename into place did not survive the crash.
		if err := os.Rename(path, s.Path(rel)); err != nil {
			return false, fmt.Errorf("cache: restore instance file: %w", err)
		}
		seen[rel] = true
		rec.Restored++
		return true, nil
	case recorded:
		return false, nil // a duplicate, or a replacement never acknowledged
	}
	if err := os.Rename(path, s.Path(rel)); err != nil {
		return false, fmt.Errorf("cache: move temporary instance into place: %w", err)
	}
	err = s.Update(func(t *Tx) error {
		if _, err := t.applyInstance(in); err != nil {
			return err
		}
		return t.Audit(AuditEvent{Kind: "adopt", Study: hdr.StudyInstanceUID, Series: hdr.SeriesInstanceUID,
			Msg: fmt.Sprintf("instance found under its temporary name adopted into series %d (crash before its rename or record)", hdr.SeriesNumber)})
	})
	if err != nil {
		return false, err
	}
	seen[rel] = true
	rec.Adopted++
	return true, nil
}

// readInstanceFile hashes and parses an instance file; ok is false when it
// is not a whole, valid instance.
func readInstanceFile(path string) (sum, dsSum [32]byte, size int64, hdr Header, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, dsSum, 0, hdr, false, fmt.Errorf("cache: open %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return sum, dsSum, 0, hdr, false, fmt.Errorf("cache: read %s: %w", filepath.Base(path), err)
	}
	copy(sum[:], h.Sum(nil))
	if dsSum, err = dataSetSHA256(f); err != nil {
		return sum, dsSum, size, hdr, false, nil
	}
	if hdr, err = ParseHeader(f, size); err != nil {
		return sum, dsSum, size, hdr, false, nil
	}
	return sum, dsSum, size, hdr, true, nil
}
