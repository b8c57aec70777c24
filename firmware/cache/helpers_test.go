package cache

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"metsentry/firmware/testenv"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustOpen opens a store in a new temporary folder with a fake clock.
func mustOpen(t testing.TB, opt Options) (*Store, *fakeClock) {
	t.Helper()
	clk := newClock()
	if opt.Now == nil {
		opt.Now = clk.Now
	}
	s, err := Open(t.TempDir(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// dicomFiles lists the files of a shared-data folder, sorted, skipping
// licence and readme files.
func dicomFiles(t testing.TB, rel ...string) []string {
	t.Helper()
	dir := testenv.SharedData(t, rel...)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || filepath.Ext(n) == ".txt" || filepath.Ext(n) == ".md" {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no DICOM files in %s", dir)
	}
	return out
}

// put copies data into a temporary file of s and stores it, as the SCP does.
func put(t testing.TB, s *Store, data []byte) error {
	t.Helper()
	f, err := s.CreateTemp()
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return s.PutInstance(context.Background(), f, Received{Size: int64(len(data)), SHA256: sha256.Sum256(data), CallingAE: "CONSOLE"})
}

func putFile(t testing.TB, s *Store, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, data); err != nil {
		t.Fatalf("PutInstance %s: %v", filepath.Base(path), err)
	}
}

func fileSHA(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// usedTemp counts the files in the temporary folder that hold data: the
// pool's empty files waiting for an instance do not count.
func usedTemp(t testing.TB, s *Store) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), TempDir))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() > 0 {
			n++
		}
	}
	return n
}
