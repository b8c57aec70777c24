package cache

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{"locked by another open", func(t *testing.T, dir string) {
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
		}, ErrLocked},
		{"garbage file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DBFile), make([]byte, 64<<10), 0o600)
		}, ErrCorrupt},
		{"empty file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, DBFile), nil, 0o600)
		}, ErrCorrupt},
		{"truncated database", func(t *testing.T, dir string) {
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			p := filepath.Join(dir, DBFile)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:100], 0o600)
		}, ErrCorrupt},
		{"bbolt file of another program", func(t *testing.T, dir string) {
			db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			db.Close()
		}, ErrCorrupt},
		{"newer schema", func(t *testing.T, dir string) {
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.db.Update(func(tx *bolt.Tx) error { return putSchema(tx, SchemaVersion+1) })
			s.Close()
		}, ErrSchemaTooNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			fi, _ := os.Stat(filepath.Join(dir, DBFile))
			start := time.Now()
			s, err := Open(dir, Options{OpenTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("Open took %v; the timeout was 200ms", time.Since(start))
			}
			if fi != nil {
				fi2, _ := os.Stat(filepath.Join(dir, DBFile))
				if fi2.Size() != fi.Size() {
					t.Errorf("Open changed the faulty file (%d -> %d bytes); it must leave it for inspection", fi.Size(), fi2.Size())
				}
			}
		})
	}
}

// TestRecover simulates what a crash leaves: a temporary file, an instance
// file renamed into place but never recorded, a garbage file among the
// instances, and a running job.
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	s, err := Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")
	putFile(t, s, files[0])
	var jobID uint64
	if err := s.Update(func(tx *Tx) error {
		var err error
		return tx.Jobs(func(j Job) error {
			jobID = j.ID
			if _, err = tx.SetJobState(j.ID, JobReady, "test", nil); err != nil {
				return err
			}
			_, err = tx.SetJobState(j.ID, JobRunning, "test", nil)
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	os.WriteFile(filepath.Join(dir, TempDir, "in-123.part"), []byte("half a file"), 0o600)
	orphan, _ := os.ReadFile(files[1])
	h := mustHeader(t, files[1])
	dst := filepath.Join(dir, filepath.FromSlash(InstancePath(h.SOPInstanceUID, fileSHA(t, files[1]))))
	os.MkdirAll(filepath.Dir(dst), 0o750)
	os.WriteFile(dst, orphan, 0o600)
	junk := filepath.Join(dir, InstanceDir, "ab", "junk.dcm")
	os.MkdirAll(filepath.Dir(junk), 0o750)
	os.WriteFile(junk, []byte("not dicom"), 0o600)

	s, err = Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // whichever store s is last: the third Open below
	rec := s.Recovered()
	if rec.TempRemoved != 1 || rec.Adopted != 1 || rec.OrphansRemoved != 1 || len(rec.JobsResumed) != 1 || rec.JobsResumed[0] != jobID {
		t.Fatalf("recovery %+v; want 1 temp removed, 1 adopted, 1 orphan removed, job %d resumed", rec, jobID)
	}
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("garbage orphan still there")
	}
	s.View(func(tx *Tx) error {
		in, ok, _ := tx.Instance(h.SOPInstanceUID)
		if !ok || in.SHA256 != fileSHA(t, files[1]) {
			t.Errorf("adopted instance not recorded with its sha256")
		}
		ss, _ := tx.StudySeries(h.StudyInstanceUID)
		if len(ss) != 1 || ss[0].Count != 2 {
			t.Errorf("series after adoption: %+v; want one series of 2", ss)
		}
		j, _, _ := tx.Job(jobID)
		if j.State != JobReady {
			t.Errorf("job %d is %s after restart, want ready", jobID, j.State)
		}
		return nil
	})
	// A second open finds nothing more to do.
	s.Close()
	s, err = Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Recovered().String(); got != "nothing to recover" {
		t.Errorf("second recovery: %s", got)
	}
}

// TestMigrateSchema1 builds a database in the schema-1 layout (instances
// keyed by SOP UID, plain JSON, no series or study records) and opens it with
// this firmware.
func TestMigrateSchema1(t *testing.T) {
	dir := t.TempDir()
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:4]
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	recv := time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, 1))
		b, _ := tx.CreateBucket(bucketInstances)
		for i, f := range files {
			h := mustHeader(t, f)
			sum := fileSHA(t, f)
			v, _ := json.Marshal(instanceV1{Header: h, File: "instances/old/" + filepath.Base(f), Size: 1000,
				SHA256: hex.EncodeToString(sum[:]), ReceivedAt: recv.Add(time.Duration(i) * time.Second), CallingAE: "OLD"})
			if err := b.Put([]byte(h.SOPInstanceUID), v); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The files the old records point at.
	os.MkdirAll(filepath.Join(dir, "instances", "old"), 0o750)
	for _, f := range files {
		data, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(dir, "instances", "old", filepath.Base(f)), data, 0o600)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of a schema-1 cache: %v", err)
	}
	defer s.Close()
	if r := s.Recovered(); r.Adopted+r.OrphansRemoved != 0 || len(r.MissingFiles) != 0 {
		t.Errorf("recovery after migration touched files: %s", r)
	}
	h0 := mustHeader(t, files[0])
	s.View(func(tx *Tx) error {
		for _, f := range files {
			h := mustHeader(t, f)
			in, ok, err := tx.Instance(h.SOPInstanceUID)
			if err != nil || !ok || in.SHA256 != fileSHA(t, f) || in.CallingAE != "OLD" || in.SeriesNumber != h.SeriesNumber {
				t.Errorf("migrated %s: ok=%v err=%v %+v", filepath.Base(f), ok, err, in)
			}
		}
		se, ok, _ := tx.Series(h0.StudyInstanceUID, h0.SeriesInstanceUID)
		if !ok || se.Count != 4 || se.Expected != 130 || !se.LastAt.Equal(recv.Add(3*time.Second)) {
			t.Errorf("rebuilt series %+v", se)
		}
		st, ok, _ := tx.Study(h0.StudyInstanceUID)
		if !ok || st.State != StudyReceiving || st.JobID == 0 {
			t.Errorf("rebuilt study %+v", st)
		}
		return nil
	})
	var v []byte
	s.db.View(func(tx *bolt.Tx) error { v = append(v, tx.Bucket(bucketMeta).Get(keySchema)...); return nil })
	if binary.BigEndian.Uint64(v) != SchemaVersion {
		t.Errorf("schema after migration %d, want %d", binary.BigEndian.Uint64(v), SchemaVersion)
	}
}

func TestJobLifeCycle(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	steps := []struct {
		to string
		ok bool
	}{
		{JobRunning, false}, {JobReady, true}, {JobRunning, true}, {JobDelivered, false},
		{JobReported, true}, {JobReady, false}, {JobDelivered, true}, {JobRunning, false},
	}
	var id uint64
	s.Update(func(tx *Tx) error { j, err := tx.NewJob(Job{StudyInstanceUID: "1.2"}); id = j.ID; return err })
	for i, st := range steps {
		err := s.Update(func(tx *Tx) error { _, err := tx.SetJobState(id, st.to, "step", nil); return err })
		if st.ok != (err == nil) || (!st.ok && !errors.Is(err, ErrBadTransition)) {
			t.Fatalf("step %d to %s: err %v, want ok=%v", i, st.to, err, st.ok)
		}
	}
}

func TestPurge(t *testing.T) {
	used := uint64(0)
	s, clk := mustOpen(t, Options{FreeSpace: func(string) (uint64, uint64, error) { return 1000 - used, 1000, nil }})
	ge := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:2]
	ph := dicomFiles(t, "dicom", "philips-mprage-sag3d")[:2]
	si := dicomFiles(t, "dicom", "dicom2nifti-fixtures", "siemens_anatomical_001")[:2]
	study := func(f string) string { return mustHeader(t, f).StudyInstanceUID }
	finish := func(uid, final string) {
		t.Helper()
		err := s.Update(func(tx *Tx) error {
			st, _, _ := tx.Study(uid)
			st.State = StudyReady
			tx.PutStudy(st)
			states := []string{JobReady, JobRunning, JobReported}
			if final != JobReported {
				states = append(states, final)
			}
			for _, to := range states {
				if _, err := tx.SetJobState(st.JobID, to, "test", nil); err != nil {
					return err
				}
				if to == JobRunning {
					tx.AddOutbox(OutboxEntry{JobID: st.JobID, Destination: "pacs", Path: "results/" + uid + ".dcm"})
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(s.Dir(), "results"), 0o750)
		os.WriteFile(filepath.Join(s.Dir(), "results", uid+".dcm"), []byte("result"), 0o600)
	}
	for _, f := range ge {
		putFile(t, s, f)
	}
	finish(study(ge[0]), JobDelivered)
	clk.Add(24 * time.Hour)
	for _, f := range ph {
		putFile(t, s, f)
	}
	finish(study(ph[0]), JobDead) // results never delivered: kept
	clk.Add(24 * time.Hour)
	for _, f := range si {
		putFile(t, s, f)
	}
	finish(study(si[0]), JobDelivered)
	clk.Add(time.Hour)
	hi := dicomFiles(t, "dicom", "dicom2nifti-fixtures", "hitachi_anatomical_001")[:2]
	for _, f := range hi {
		putFile(t, s, f)
	}
	finish(study(hi[0]), JobReported) // results waiting in the outbox: kept
	clk.Add(48 * time.Hour)

	// By age: only the old delivered study goes; the dead one is kept.
	res, err := s.Purge(Retention{MaxAge: 68 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Studies) != 1 || res.Studies[0] != study(ge[0]) || res.Kept != 1 || res.Files != 3 {
		t.Fatalf("purge by age: %+v; want the GE study (2 instances + 1 result) purged, the dead Philips study kept", res)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "results", study(ge[0])+".dcm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("result file of the purged study left behind")
	}
	// By watermark: disk 95% used, above 90%: the oldest purgeable (Siemens)
	// goes, never the dead Philips study, even though it is older.
	used = 950
	res, err = s.Purge(Retention{HighWatermark: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Studies) != 1 || res.Studies[0] != study(si[0]) {
		t.Fatalf("purge by watermark: %+v; want the Siemens study", res)
	}
	s.View(func(tx *Tx) error {
		for _, f := range []string{ph[0], hi[0]} {
			if _, ok, _ := tx.Study(study(f)); !ok {
				t.Errorf("undelivered study purged")
			}
		}
		n := 0
		tx.AuditEvents(0, func(e AuditEvent) error {
			if e.Kind == "purge" {
				n++
			}
			return nil
		})
		if n != 2 {
			t.Errorf("%d purge audit events, want 2", n)
		}
		return nil
	})
}
