package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// crash stops a store the way kill -9 does: the batched index is not
// committed and the pool's files stay; only the database handle is
// released so the test can open the folder again.
func (s *Store) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	select {
	case <-s.idx.stopped:
	default:
		close(s.idx.stop)
		<-s.idx.stopped
	}
	close(s.pool.stop)
	<-s.pool.done
	s.db.Close()
}

func countInstances(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	if err := s.View(func(tx *Tx) error {
		return tx.AllInstances(func(Instance) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAsyncIndex: with IndexDelay, PutInstance returns before the record is
// committed; a duplicate of a queued instance is still a duplicate; Flush
// commits the batch in one go and calls Indexed.
func TestAsyncIndex(t *testing.T) {
	var indexed atomic.Int32
	s, _ := mustOpen(t, Options{IndexDelay: time.Hour, Indexed: func() { indexed.Add(1) }})
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:5]
	for _, f := range files {
		putFile(t, s, f)
	}
	putFile(t, s, files[2]) // a duplicate of a queued instance
	if n := countInstances(t, s); n != 0 {
		t.Fatalf("%d instances committed before the batch was due, want 0", n)
	}
	if st := s.IndexStats(); st.Pending != 5 {
		t.Fatalf("%d pending, want 5 (the duplicate is known from the queue)", st.Pending)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := countInstances(t, s); n != 5 {
		t.Fatalf("%d instances after Flush, want 5", n)
	}
	if got := indexed.Load(); got != 1 {
		t.Errorf("Indexed called %d times for one batch, want 1", got)
	}
	s.View(func(tx *Tx) error {
		ss, _ := tx.StudySeries(mustHeader(t, files[0]).StudyInstanceUID)
		if len(ss) != 1 || ss[0].Count != 5 {
			t.Errorf("series after the batch: %+v, want one series of 5", ss)
		}
		return nil
	})
}

// TestAsyncIndexCommitsInBackground: the batch is committed IndexDelay
// after its first record without anyone asking.
func TestAsyncIndexCommitsInBackground(t *testing.T) {
	done := make(chan struct{}, 1)
	s, _ := mustOpen(t, Options{IndexDelay: 10 * time.Millisecond, Indexed: func() { poke(done) }})
	putFile(t, s, dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0])
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch was not committed within 10 s of a 10 ms delay")
	}
	if n := countInstances(t, s); n != 1 {
		t.Fatalf("%d instances, want 1", n)
	}
}

// TestCrashBeforeBatchCommit: instances acknowledged but not yet committed
// when the process dies are adopted at the next start, each once, with
// their files intact; the series count is right.
func TestCrashBeforeBatchCommit(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	s, err := Open(dir, Options{Now: clk.Now, IndexDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:12]
	for _, f := range files[:4] {
		putFile(t, s, f)
	}
	if err := s.Flush(); err != nil { // a first batch committed
		t.Fatal(err)
	}
	for _, f := range files[4:] {
		putFile(t, s, f)
	}
	s.crash()

	s, err = Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rec := s.Recovered(); rec.Adopted != 8 || rec.OrphansRemoved != 0 {
		t.Fatalf("recovery %+v; want the 8 uncommitted instances adopted", rec)
	}
	if n := countInstances(t, s); n != 12 {
		t.Fatalf("%d instances recorded after the crash, want 12", n)
	}
	s.View(func(tx *Tx) error {
		for _, f := range files {
			in, ok, _ := tx.Instance(mustHeader(t, f).SOPInstanceUID)
			if !ok || in.SHA256 != fileSHA(t, f) || fileSHA(t, s.Path(in.Path)) != in.SHA256 {
				t.Errorf("%s: not recorded with its content after the crash", filepath.Base(f))
			}
		}
		ss, _ := tx.StudySeries(mustHeader(t, files[0]).StudyInstanceUID)
		if len(ss) != 1 || ss[0].Count != 12 {
			t.Errorf("series after recovery: %+v, want one series of 12", ss)
		}
		return nil
	})
}

// TestRecoverTemporaryFiles: what a crash leaves in the temporary folder.
// A whole instance there was durable and may have been acknowledged (its
// rename into place did not survive): it is adopted, or moved to its
// recorded path when that file is missing. Partial, empty and duplicate
// files go.
func TestRecoverTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	s, err := Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:4]
	putFile(t, s, files[0]) // recorded; its file will go missing
	putFile(t, s, files[1]) // recorded and present
	var lost string
	s.View(func(tx *Tx) error {
		in, _, _ := tx.Instance(mustHeader(t, files[0]).SOPInstanceUID)
		lost = s.Path(in.Path)
		return nil
	})
	s.Close()

	tmp := filepath.Join(dir, TempDir)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := os.Rename(lost, filepath.Join(tmp, "in-lost.part")); err != nil { // the rename that did not survive
		t.Fatal(err)
	}
	write("in-dup.part", read(files[1]))                          // a duplicate of a recorded instance
	write("in-new.part", read(files[2]))                          // acknowledged, never renamed nor recorded
	write("in-half.part", read(files[3])[:len(read(files[3]))/2]) // cut off while receiving
	write("in-empty.part", nil)                                   // a pool file never used

	s, err = Open(dir, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := s.Recovered()
	if rec.Restored != 1 || rec.Adopted != 1 || rec.TempRemoved != 2 || len(rec.MissingFiles) != 0 {
		t.Fatalf("recovery %+v; want 1 restored, 1 adopted, 2 temporary files removed (the empty one goes uncounted), none missing", rec)
	}
	if fileSHA(t, lost) != fileSHA(t, files[0]) {
		t.Errorf("the recorded file was not restored to its path")
	}
	if n := countInstances(t, s); n != 3 {
		t.Errorf("%d instances recorded, want 3", n)
	}
	if n := usedTemp(t, s); n != 0 {
		t.Errorf("%d written files left in tmp", n)
	}
}

// TestInstanceMovedToAnotherStudy: the same SOP Instance UID received again
// under another study (issue 25 item 8) moves the instance; the series it
// leaves empty is removed and the study it leaves empty has its waiting job
// skipped, with the reason in the audit log.
func TestInstanceMovedToAnotherStudy(t *testing.T) {
	s, _ := mustOpen(t, Options{})
	f := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[0]
	h := mustHeader(t, f)
	putFile(t, s, f)
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	old := h.StudyInstanceUID
	other := old[:len(old)-1] + string(rune('0'+(old[len(old)-1]-'0'+1)%10))
	moved := bytes.ReplaceAll(data, []byte(old), []byte(other))
	if err := put(t, s, moved); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		in, ok, _ := tx.Instance(h.SOPInstanceUID)
		if !ok || in.StudyInstanceUID != other {
			t.Errorf("instance not moved: %+v", in.Header)
		}
		if ss, _ := tx.StudySeries(h.StudyInstanceUID); len(ss) != 0 {
			t.Errorf("old study keeps %d series (one empty), want none", len(ss))
		}
		st, _, _ := tx.Study(h.StudyInstanceUID)
		j, _, _ := tx.Job(st.JobID)
		if st.State != StudySkipped || j.State != JobSkipped {
			t.Errorf("old study %s, its job %s; want both skipped", st.State, j.State)
		}
		moves := 0
		tx.AuditEvents(0, func(e AuditEvent) error {
			if e.Kind == "instance-moved" {
				moves++
			}
			return nil
		})
		if moves != 1 {
			t.Errorf("%d instance-moved audit events, want 1", moves)
		}
		return nil
	})
}
