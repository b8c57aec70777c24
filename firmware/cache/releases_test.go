package cache

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestReleasesOutliveReopen: a recorded release is read back after the
// store is closed and opened again; releases older than keep are forgotten
// when a newer one is recorded; a later release of the same remote replaces
// the earlier.
func TestReleasesOutliveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	keep := time.Hour
	for _, r := range []Release{
		{"192.0.2.1:4000", t0},
		{"192.0.2.1:4001", t0.Add(30 * time.Minute)},
		{"192.0.2.1:4001", t0.Add(40 * time.Minute)},
		{"192.0.2.1:4002", t0.Add(90 * time.Minute)}, // 4000 is now older than keep
	} {
		if err := s.RecordRelease(r, keep); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if s, err = Open(dir, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got map[string]time.Time
	if err := s.View(func(tx *Tx) error { got, err = tx.Releases(); return err }); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"192.0.2.1:4001": t0.Add(40 * time.Minute), "192.0.2.1:4002": t0.Add(90 * time.Minute)}
	if len(got) != len(want) {
		t.Fatalf("releases %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(v) {
			t.Errorf("release of %s at %v, want %v", k, got[k], v)
		}
	}
}

// TestMigrateSchema3 opens a schema-3 cache (no releases or steps bucket):
// Open adds them, and releases and steps can be recorded.
func TestMigrateSchema3(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketReleases, bucketSteps} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return putSchema(tx, 3)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, Options{NoSync: true}); err != nil {
		t.Fatalf("open a schema-3 cache: %v", err)
	}
	defer s.Close()
	if err := s.RecordRelease(Release{"192.0.2.1:4000", time.Now()}, time.Hour); err != nil {
		t.Fatalf("record a release after migration: %v", err)
	}
	want := Step{UID: "1.2.3", At: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Body: []byte(`{"Status":"COMPLETED"}`)}
	if err := s.Update(func(tx *Tx) error { return tx.PutStep(want) }); err != nil {
		t.Fatalf("record a step after migration: %v", err)
	}
	var got []Step
	s.View(func(tx *Tx) error { return tx.Steps(func(st Step) error { got = append(got, st); return nil }) })
	if len(got) != 1 || got[0].UID != want.UID || !got[0].At.Equal(want.At) || string(got[0].Body) != string(want.Body) {
		t.Errorf("steps %+v, want %+v", got, want)
	}
}

// TestDuplicateResendMovesLastRemote: an identical copy of a stored instance
// resent on another association (a sender resending after a cut) records
// that association as the series' LastRemote, with an asynchronous index
// too, once flushed; after the study is decided, a resend changes nothing.
func TestDuplicateResendMovesLastRemote(t *testing.T) {
	s, clk := mustOpen(t, Options{IndexDelay: time.Hour})
	files := dicomFiles(t, "dicom", "ge-mprage-ax-oblique")[:3]
	send := func(path, remote string) {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.CreateTemp()
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
		if err := s.PutInstance(context.Background(), f, Received{Size: int64(len(data)), SHA256: sha256.Sum256(data), Remote: remote}); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	series := func() Series {
		t.Helper()
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		var se Series
		s.View(func(tx *Tx) error {
			h := mustHeader(t, files[0])
			se, _, _ = tx.Series(h.StudyInstanceUID, h.SeriesInstanceUID)
			return nil
		})
		return se
	}
	for _, f := range files {
		send(f, "192.0.2.1:4000")
	}
	if se := series(); se.LastRemote != "192.0.2.1:4000" || se.Count != 3 {
		t.Fatalf("series last fed by %q with %d instances, want 192.0.2.1:4000 and 3", se.LastRemote, se.Count)
	}
	send(files[1], "192.0.2.1:4001")
	se := series()
	if se.LastRemote != "192.0.2.1:4001" || se.Count != 3 || !se.LastAt.Equal(clk.Now().Add(-time.Second)) {
		t.Fatalf("after a resend: last fed by %q at %v with %d instances; want 192.0.2.1:4001, the resend's time, 3", se.LastRemote, se.LastAt, se.Count)
	}
	if err := s.Update(func(tx *Tx) error {
		st, _, err := tx.Study(se.StudyInstanceUID)
		if err != nil {
			return err
		}
		st.State = StudyReady
		return tx.PutStudy(st)
	}); err != nil {
		t.Fatal(err)
	}
	send(files[2], "192.0.2.1:4002")
	if got := series(); got.LastRemote != se.LastRemote || !got.LastAt.Equal(se.LastAt) {
		t.Errorf("a resend after the study was decided moved the series to %q at %v", got.LastRemote, got.LastAt)
	}
}
